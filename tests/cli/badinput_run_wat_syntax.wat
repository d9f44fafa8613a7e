;; RUN: run % --invoke f
;; EXIT: 1
;; A WAT syntax error: the file, wasmtime's message and the line and column, on one line.
(module
  (func (export "f") (result i32)
    i32.const 1
    i32.frobnicate))
