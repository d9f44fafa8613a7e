;; RUN: info --json %
;; The stable JSON form: a module with a 64-bit memory, a shared one, SIMD and atomics in code,
;; and a target_features section. tests/test_cli_info.py checks the same keys programmatically.
(module
  (import "env" "shared" (memory 1 16 shared))
  (memory $big i64 2 4)
  (func (export "splat") (param i32) (result v128)
    (i32x4.splat (local.get 0)))
  (func (export "bump") (param i32) (result i32)
    (i32.atomic.rmw.add (i32.const 0) (local.get 0)))
  (data (memory $big) (i64.const 0) "\01\02\03")
  (@custom "target_features" "\03\2b\07atomics\2b\07simd128\2d\0bmultimemory"))
