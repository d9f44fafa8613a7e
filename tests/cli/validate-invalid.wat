;; RUN: validate %
;; EXIT: 1
;; Well-formed but ill-typed: the body leaves an i64 where i32 is promised.
;; wasmtime's message and the byte offset of the bad instruction go to stderr.
(module
  (func (export "f") (result i32)
    i64.const 0))
