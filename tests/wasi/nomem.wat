;; A module without a memory calling WASI functions that need one: they must
;; answer FAULT (21), never crash. Used by tests/unit/test_wasi.c.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (func (export "fd_write") (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "clock_time_get") (result i32)
    (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 0)))
  (func (export "args_get") (result i32)
    (call $args_get (i32.const 0) (i32.const 0)))
)
