;; RUN: info %
;; EXIT: 1
;; Sections split fine, but function 0's body holds an illegal opcode (0xff): the feature scan
;; walks every body, so info reports it with the body and offset.
(module binary
  "\00asm\01\00\00\00"
  "\01\04\01\60\00\00"          ;; type section: (func)
  "\03\02\01\00"                ;; func section: 1 function of type 0
  "\0a\05\01\03\00\ff\0b")      ;; code section: body 0 = no locals, 0xff, end
