;; RUN: dump %
;; Custom sections decoded entry by entry: the name section (module, function, local, label,
;; type, field, memory, global, data, tag names), producers, target_features, dylink.0; an
;; unknown custom section as hex rows with ASCII, placed after the type section.
(module $named
  (@dylink.0 (mem-info (memory 16 2) (table 1 0)) (needed "libc.so"))
  (type $pt (struct (field $x i32) (field $y i32)))
  (@custom "note" (after type) "an unknown custom section, shown as rows of 16 bytes")
  (memory $mem 1)
  (global $count (mut i32) (i32.const 0))
  (tag $boom)
  (func $sum (param $a i32) (param $b i32) (result i32) (local $t i32)
    (block $done (local.set $t (i32.add (local.get $a) (local.get $b))))
    (local.get $t))
  (data $greeting "hi")
  (@producers (language "WAT" "1.0") (sdk "none" "0"))
  (@custom "target_features" "\02\2b\08sign-ext\2d\07atomics"))
