;; ledger: account balances, with every change reported to the logger.
;;
;; Imports logger.log. Balances are i64 values in the ledger's own memory,
;; 8 bytes per account, accounts 0..1023; an account number out of range traps.
;; Account 0 is the bank's reserve: its opening balance of 1,000,000 comes from
;; a data segment. `debit` refuses (returns 0, logs code 3) rather than let a
;; balance go below zero.
(module $ledger
  (import "logger" "log" (func $log (param i32 i64)))
  (memory 1)
  (global $accounts i32 (i32.const 1024))
  ;; account 0 opens with 1_000_000 = 0x0f4240, little-endian
  (data (i32.const 0) "\40\42\0f\00\00\00\00\00")

  (func $addr (param $acct i32) (result i32)
    (if (i32.ge_u (local.get $acct) (global.get $accounts))
      (then unreachable))
    (i32.shl (local.get $acct) (i32.const 3)))

  (func $balance (export "balance") (param $acct i32) (result i64)
    (i64.load (call $addr (local.get $acct))))

  (func (export "credit") (param $acct i32) (param $amount i64)
    (local $p i32)
    (local.set $p (call $addr (local.get $acct)))
    (i64.store (local.get $p) (i64.add (i64.load (local.get $p)) (local.get $amount)))
    (call $log (i32.const 1) (local.get $amount)))

  (func (export "debit") (param $acct i32) (param $amount i64) (result i32)
    (local $p i32)
    (local.set $p (call $addr (local.get $acct)))
    (if (i64.lt_s (i64.load (local.get $p)) (local.get $amount))
      (then
        (call $log (i32.const 3) (local.get $amount))
        (return (i32.const 0))))
    (i64.store (local.get $p) (i64.sub (i64.load (local.get $p)) (local.get $amount)))
    (call $log (i32.const 2) (local.get $amount))
    (i32.const 1))
)
