;; RUN: snapshot % -o %t/out.wasm
;; EXIT: 1
;; The code section says 8 bytes but the file ends after 4: wasmweld's own decoder reports it, naming
;; the file and the offset of the section size, before anything runs or is written.
(module binary
  "\00asm\01\00\00\00"
  "\01\04\01\60\00\00"          ;; type section: (func)
  "\03\02\01\00"                ;; func section: 1 function of type 0
  "\0a\08\01\06\00\41")         ;; code section: size 8, only 4 bytes follow
