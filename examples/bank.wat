;; bank: accounts and transfers on top of the ledger, with a fee policy.
;;
;; Imports three functions from ledger and one from logger. `open` funds a new
;; account from the reserve (account 0); `transfer` moves an amount and charges
;; the sender a fee chosen by the current policy, a function picked from a table
;; with call_indirect (0: no fee, 1: flat fee of 1, 2: 1% rounded down); the fee
;; goes to the reserve. A transfer the sender cannot cover changes nothing and
;; returns 0.
(module $bank
  (import "ledger" "credit" (func $credit (param i32 i64)))
  (import "ledger" "debit" (func $debit (param i32 i64) (result i32)))
  (import "ledger" "balance" (func $balance (param i32) (result i64)))
  (import "logger" "log" (func $log (param i32 i64)))

  (type $fee_fn (func (param i64) (result i64)))
  (table $policies 3 funcref)
  (elem (table $policies) (i32.const 0) func $no_fee $flat_fee $percent_fee)
  (global $policy (mut i32) (i32.const 0))

  (func $no_fee (type $fee_fn) (i64.const 0))
  (func $flat_fee (type $fee_fn) (i64.const 1))
  (func $percent_fee (type $fee_fn) (i64.div_u (local.get 0) (i64.const 100)))

  (func (export "set_policy") (param $p i32)
    (if (i32.ge_u (local.get $p) (table.size $policies))
      (then unreachable))
    (global.set $policy (local.get $p)))

  (func (export "policy") (result i32)
    (global.get $policy))

  (func (export "fee") (param $amount i64) (result i64)
    (call_indirect $policies (type $fee_fn) (local.get $amount) (global.get $policy)))

  (func (export "open") (param $acct i32) (param $initial i64) (result i32)
    (if (i32.eqz (call $debit (i32.const 0) (local.get $initial)))
      (then (return (i32.const 0))))
    (call $credit (local.get $acct) (local.get $initial))
    (i32.const 1))

  (func (export "transfer") (param $from i32) (param $to i32) (param $amount i64) (result i32)
    (local $fee i64)
    (local.set $fee
      (call_indirect $policies (type $fee_fn) (local.get $amount) (global.get $policy)))
    (if (i32.eqz (call $debit (local.get $from) (i64.add (local.get $amount) (local.get $fee))))
      (then (return (i32.const 0))))
    (call $credit (local.get $to) (local.get $amount))
    (if (i64.ne (local.get $fee) (i64.const 0))
      (then
        (call $credit (i32.const 0) (local.get $fee))
        (call $log (i32.const 11) (local.get $fee))))
    (call $log (i32.const 10) (local.get $amount))
    (i32.const 1))

  (func (export "balance") (param $acct i32) (result i64)
    (call $balance (local.get $acct)))

  (func (export "reserve") (result i64)
    (call $balance (i32.const 0)))
)
