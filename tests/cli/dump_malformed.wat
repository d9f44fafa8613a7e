;; RUN: dump %
;; EXIT: 1
;; Malformed: body 0 holds an illegal opcode (0xff) after two good instructions. The dump
;; prints everything up to that instruction, then the DecodeError with its offset.
(module binary
  "\00asm\01\00\00\00"
  "\01\05\01\60\00\01\7f"       ;; type section: (func (result i32))
  "\03\02\01\00"                ;; func section: 1 function of type 0
  "\0a\08\01\06\00\41\2a\1a\ff\0b")  ;; code: no locals, i32.const 42, drop, 0xff, end
