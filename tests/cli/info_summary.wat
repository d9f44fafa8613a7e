;; RUN: info --summary %
;; --summary leaves out the import and export lists; an MVP-only module reports no features.
(module
  (import "env" "print" (func $print (param i32)))
  (memory (export "memory") 1)
  (func (export "main") (call $print (i32.const 42))))
