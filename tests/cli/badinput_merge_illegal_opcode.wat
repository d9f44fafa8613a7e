;; RUN: merge % a -o %t/merged.wasm
;; EXIT: 1
;; merge reads bodies lazily, as late as its dead-code pass: the error still names the input, its
;; file and the offset in that file (not an offset in the merged module).
(module binary
  "\00asm\01\00\00\00"
  "\01\04\01\60\00\00"          ;; type section: (func)
  "\03\02\01\00"                ;; func section: 1 function of type 0
  "\07\05\01\01f\00\00"         ;; export "f"
  "\0a\05\01\03\00\ff\0b")      ;; code section: body 0 = no locals, 0xff, end
