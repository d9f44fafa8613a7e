;; RUN: snapshot % -o %t/out.wasm --report %t/nodir/report.json
;; EXIT: 1
;; Both destinations are checked before the init function runs, so out.wasm is not written either.
(module
  (global $g (mut i32) (i32.const 0))
  (func (export "wizer.initialize") i32.const 1 global.set $g))
