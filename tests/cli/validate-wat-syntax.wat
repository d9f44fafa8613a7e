;; RUN: validate %
;; EXIT: 1
;; A text syntax error carries wasmtime's line and column.
(module
  (func (result i32) i32.konst 1))
