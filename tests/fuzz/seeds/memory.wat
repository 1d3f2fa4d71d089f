;; A defined memory with data segments and bulk memory operations.
(module
  (memory (export "mem") 2 10)
  (data (i32.const 0) "abcdefgh")
  (data "\ff\fe")
  (func (export "copy") (param i32 i32 i32)
    (memory.copy (local.get 0) (local.get 1) (local.get 2))
    (memory.fill (local.get 0) (i32.const 7) (local.get 2)))
  (func (export "sum") (param i32) (result i64)
    (local i64)
    (block
      (loop
        (br_if 1 (i32.eqz (local.get 0)))
        (local.set 1 (i64.add (local.get 1) (i64.load32_u (local.get 0))))
        (local.set 0 (i32.sub (local.get 0) (i32.const 4)))
        (br 0)))
    (local.get 1)))
