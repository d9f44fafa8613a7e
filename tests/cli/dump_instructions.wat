;; RUN: dump %
;; One line per instruction in its text form: block types (empty, value, type index), br_table,
;; memargs (natural alignment omitted, offsets, explicit memory index), constants (f32/f64
;; shortest forms, nan, inf), v128, shuffles and lanes, typed select, exceptions (try_table and
;; legacy try/catch/rethrow), GC casts, atomics, bulk memory and tail calls.
(module
  (type $ii (func (param i32) (result i32)))
  (type $s (struct (field i32)))
  (memory $m0 1 1 shared)
  (memory $m1 1)
  (table 1 funcref)
  (tag $e (param i32))
  (func $f (type $ii)
    (block $out (result i32)
      (loop $l
        (br_table $l $out $l (local.get 0))))
    (block (type $ii) (i32.const 5) (i32.add (i32.const 1)))
    drop
    (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2)))
    drop
    (drop (i32.load (local.get 0)))
    (drop (i32.load offset=8 align=1 (local.get 0)))
    (drop (i64.load16_s $m1 offset=2 (local.get 0)))
    (drop (f32.const 0.1)) (drop (f32.const -0)) (drop (f32.const inf)) (drop (f32.const nan))
    (drop (f64.const 1e300)) (drop (f64.const -nan:0x1)) (drop (f64.const 0x1p-1074))
    (drop (v128.const i32x4 1 2 3 0xffffffff))
    (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (v128.const i64x2 0 0) (v128.const i64x2 0 0)))
    (drop (i32x4.extract_lane 3 (v128.const i64x2 0 0)))
    (drop (select (result i32) (i32.const 1) (i32.const 2) (local.get 0)))
    (drop (i32.atomic.rmw.cmpxchg offset=4 (i32.const 0) (i32.const 1) (i32.const 2)))
    (memory.copy $m1 $m0 (i32.const 0) (i32.const 0) (i32.const 0))
    (drop (ref.test (ref $s) (ref.null any)))
    (drop (ref.cast (ref null $s) (ref.null any)))
    (block $h (result i32)
      (try_table (catch $e $h) (throw $e (i32.const 7))))
    drop
    try
      (drop (call $f (i32.const 0)))
    catch $e
      drop
    catch_all
    end
    (return_call_indirect (type $ii) (local.get 0) (i32.const 0))))
