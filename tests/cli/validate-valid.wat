;; RUN: validate -v %
;; A small valid module: validate -v says so on stdout, exit status 0.
(module
  (memory 1)
  (func (export "store") (param i32 i32)
    (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32)
    (i32.load (local.get 0))))
