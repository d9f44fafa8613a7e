;; boot: start-up work done once at build time by `wasmweld snapshot` (Wizer's job).
;;
;; `wizer-initialize` (the init function snapshot runs by default) stores 1234 at
;; address 64 and sets $ready; the snapshot writes a module that starts in that
;; state, without the init function:
;;   wasmweld snapshot examples/boot.wat -o boot.init.wasm
;;   wasmweld run boot.init.wasm --invoke get            # prints 1235
(module $boot
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  (func (export "wizer-initialize")
    (i32.store (i32.const 64) (i32.const 1234))
    (global.set $ready (i32.const 1)))
  (func (export "get") (result i32)
    (i32.add (global.get $ready) (i32.load (i32.const 64)))))
