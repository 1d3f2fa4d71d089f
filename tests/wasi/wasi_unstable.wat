;; The same functions imported from the older wasi_unstable module; only the
;; ones whose layout differs from preview1 need checking (filestat, poll
;; subscriptions). Used by tests/unit/test_wasi.c.
(module
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_unstable" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_write)
  (func (export "fd_filestat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_filestat_get)
  (func (export "poll_oneoff") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $poll_oneoff)
  (func (export "fd_seek") (param i32 i64 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_seek)
)
