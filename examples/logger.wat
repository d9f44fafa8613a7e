;; logger: an event log kept in its own memory.
;;
;; Imports nothing. Each event is (code: i32, value: i64), stored as a 12-byte
;; record in a ring of 5461 slots (one 64 KiB page); `count` is the number of
;; events ever logged, and `code_at`/`value_at` read the i-th one back
;; (i counted from 0, modulo the ring size).
;; Event codes used by the other examples: 1 credit, 2 debit, 3 refused debit,
;; 10 transfer, 11 fee.
(module $logger
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (global $slots i32 (i32.const 5461))

  (func $slot (param $i i32) (result i32)
    (i32.mul (i32.rem_u (local.get $i) (global.get $slots)) (i32.const 12)))

  (func (export "log") (param $code i32) (param $value i64)
    (local $p i32)
    (local.set $p (call $slot (global.get $count)))
    (i32.store (local.get $p) (local.get $code))
    (i64.store offset=4 (local.get $p) (local.get $value))
    (global.set $count (i32.add (global.get $count) (i32.const 1))))

  (func (export "count") (result i32)
    (global.get $count))

  (func (export "code_at") (param $i i32) (result i32)
    (i32.load (call $slot (local.get $i))))

  (func (export "value_at") (param $i i32) (result i64)
    (i64.load offset=4 (call $slot (local.get $i))))
)
