// Shared helpers for the wasmgate AssemblyScript test plugins.
//
// @solo-io/proxy-runtime 0.1.8 has several wrappers that pass values where the
// ABI expects out-pointers (RootContext.onConfigure, get_shared_data,
// set_shared_data, register_shared_queue, get_metric) and it has no
// proxy_set_buffer_bytes binding at all. The plugins use the SDK for context
// dispatch, headers, local replies and HTTP calls, and the correct low-level
// wrappers below for everything else.
//
// asc 0.14 pitfalls seen while writing these plugins (both reproduced with
// plain asc 0.14.9 code):
//  * `ref as Subclass` on a managed reference leaks one reference, so the
//    object is never freed. Use changetype<Subclass>(ref) for downcasts.
//    (The SDK's own exports do `as Context`, so each stream context leaks.)
//  * `cond ? "literal" : heapString` miscounts references and aborts later
//    in ~lib/rt/pure.ts. Use if/else for such assignments.

import {
  RootContext, LogLevelValues, WasmResultValues, log,
} from "@solo-io/proxy-runtime";
import { registerRootContext } from "@solo-io/proxy-runtime";
import {
  BufferTypeValues, HeaderMapTypeValues, get_buffer_bytes, add_header_map_value_string,
} from "@solo-io/proxy-runtime/runtime";
import * as abi from "@solo-io/proxy-runtime/imports";
import { free } from "@solo-io/proxy-runtime/malloc";

// ---------------------------------------------------------------- logging

export function logInfo(msg: string): void {
  log(LogLevelValues.info, msg);
}

export function logError(msg: string): void {
  log(LogLevelValues.error, msg);
}

// Every unexpected condition is reported with this prefix so tests can grep
// the proxy log for it.
export function assertFailed(msg: string): void {
  log(LogLevelValues.error, "ASSERT FAILED: " + msg);
}

export function checkOk(what: string, res: WasmResultValues): bool {
  if (res != WasmResultValues.Ok) {
    assertFailed(what + " returned status " + (res as u32).toString());
    return false;
  }
  return true;
}

// ------------------------------------------------------ root registration

// The SDK looks the root context factory up by the "plugin_root_id"
// property. Register under the plugin name and under "" so the plugin works
// whether or not the host was given a root id.
export function registerRoot(name: string, factory: (context_id: u32) => RootContext): void {
  registerRootContext(factory, name);
  registerRootContext(factory, "");
}

// ------------------------------------------------------------ out slots

// Scratch memory for host out-parameters. Every hostcall below fills these
// and the values are read back immediately, so one set is enough.
class OutSlots {
  ptr: usize = 0;   // *return_data_ptr
  size: usize = 0;  // *return_size_ptr
  word: u32 = 0;    // u32 results (cas, token, metric id)
  wide: u64 = 0;    // u64 results (metric values)

  ptrAddr(): usize { return changetype<usize>(this) + offsetof<OutSlots>("ptr"); }
  sizeAddr(): usize { return changetype<usize>(this) + offsetof<OutSlots>("size"); }
  wordAddr(): usize { return changetype<usize>(this) + offsetof<OutSlots>("word"); }
  wideAddr(): usize { return changetype<usize>(this) + offsetof<OutSlots>("wide"); }

  reset(): void {
    this.ptr = 0;
    this.size = 0;
    this.word = 0;
    this.wide = 0;
  }

  // Copy the host-allocated block (allocated through the exported malloc)
  // into a fresh ArrayBuffer and release the host block.
  takeBytes(): ArrayBuffer {
    let n = <i32>this.size;
    let out = new ArrayBuffer(n);
    if (n > 0 && this.ptr != 0) {
      memory.copy(changetype<usize>(out), this.ptr, n);
    }
    if (this.ptr != 0) {
      // The block came from the SDK's exported malloc; hand it back.
      free(this.ptr);
    }
    this.ptr = 0;
    this.size = 0;
    return out;
  }
}

let slots = new OutSlots();

// ---------------------------------------------------------------- strings

export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

export function str(b: ArrayBuffer): string {
  return String.UTF8.decode(b);
}

// Strict unsigned decimal parser; returns -1 for anything else.
export function parseDecimal(s: string): i64 {
  if (s.length == 0 || s.length > 18) return -1;
  let v: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

// ---------------------------------------------------------- configuration

// Reads the whole plugin configuration (valid inside onConfigure).
export function readPluginConfiguration(size: u32): string {
  if (size == 0) return "";
  return str(get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, size));
}

// ---------------------------------------------------------------- headers

// Returns null when the header is absent (0.2.x hosts answer NotFound).
export function getHeader(map: HeaderMapTypeValues, key: string): string | null {
  let k = utf8(key);
  slots.reset();
  let res = abi.proxy_get_header_map_value(map, changetype<usize>(k), k.byteLength,
    slots.ptrAddr(), slots.sizeAddr());
  if (res == WasmResultValues.NotFound) return null;
  if (res != WasmResultValues.Ok) {
    assertFailed("proxy_get_header_map_value(" + key + ") returned status " + res.toString());
    return null;
  }
  return str(slots.takeBytes());
}

// ----------------------------------------------------------------- buffers

export function readBuffer(typ: BufferTypeValues, start: u32, maxSize: u32): ArrayBuffer {
  slots.reset();
  let res = abi.proxy_get_buffer_bytes(typ, start, maxSize, slots.ptrAddr(), slots.sizeAddr());
  if (res != WasmResultValues.Ok) {
    assertFailed("proxy_get_buffer_bytes(" + typ.toString() + ") returned status " + res.toString());
    return new ArrayBuffer(0);
  }
  return slots.takeBytes();
}

// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
declare function proxy_set_buffer_bytes(typ: i32, start: u32, size: u32, data: usize, data_size: usize): u32;

export function setBuffer(typ: BufferTypeValues, start: u32, size: u32, data: ArrayBuffer): WasmResultValues {
  return proxy_set_buffer_bytes(typ, start, size, changetype<usize>(data), data.byteLength);
}

// ------------------------------------------------------------- shared data

export class SharedValue {
  result: WasmResultValues = WasmResultValues.Ok;
  value: ArrayBuffer = new ArrayBuffer(0);
  cas: u32 = 0;
}

export function getSharedData(key: string): SharedValue {
  let k = utf8(key);
  let out = new SharedValue();
  slots.reset();
  out.result = abi.proxy_get_shared_data(changetype<usize>(k), k.byteLength,
    slots.ptrAddr(), slots.sizeAddr(), slots.wordAddr());
  if (out.result == WasmResultValues.Ok) {
    out.cas = slots.word;
    out.value = slots.takeBytes();
  }
  return out;
}

export function setSharedData(key: string, value: ArrayBuffer, cas: u32): WasmResultValues {
  let k = utf8(key);
  return abi.proxy_set_shared_data(changetype<usize>(k), k.byteLength,
    changetype<usize>(value), value.byteLength, cas);
}

// ------------------------------------------------------------ shared queue

export class QueueToken {
  result: WasmResultValues = WasmResultValues.Ok;
  token: u32 = 0;
}

export function registerSharedQueue(name: string): QueueToken {
  let n = utf8(name);
  let out = new QueueToken();
  slots.reset();
  out.result = abi.proxy_register_shared_queue(changetype<usize>(n), n.byteLength, slots.wordAddr());
  out.token = slots.word;
  return out;
}

export function enqueueSharedQueue(token: u32, data: ArrayBuffer): WasmResultValues {
  return abi.proxy_enqueue_shared_queue(token, changetype<usize>(data), data.byteLength);
}

export class QueueItem {
  result: WasmResultValues = WasmResultValues.Ok;
  data: ArrayBuffer = new ArrayBuffer(0);
}

export function dequeueSharedQueue(token: u32): QueueItem {
  let out = new QueueItem();
  slots.reset();
  out.result = abi.proxy_dequeue_shared_queue(token, slots.ptrAddr(), slots.sizeAddr());
  if (out.result == WasmResultValues.Ok) {
    out.data = slots.takeBytes();
  }
  return out;
}

// ----------------------------------------------------------------- metrics

export class MetricValue {
  result: WasmResultValues = WasmResultValues.Ok;
  value: u64 = 0;
}

export function getMetric(id: u32): MetricValue {
  let out = new MetricValue();
  slots.reset();
  out.result = abi.proxy_get_metric(id, slots.wideAddr());
  out.value = slots.wide;
  return out;
}

// Adds a header and reads it back. When the header was absent before, the
// read-back must return exactly the new value; when it was already present
// the host may return the first (older) value, so only presence is checked.
export function addHeaderChecked(map: HeaderMapTypeValues, key: string, value: string): bool {
  let before = getHeader(map, key);
  if (!checkOk("proxy_add_header_map_value(" + key + ")",
      add_header_map_value_string(map, key, value))) {
    return false;
  }
  let got = getHeader(map, key);
  if (got === null) {
    assertFailed(key + " missing right after it was added");
    return false;
  }
  if (before === null && got != value) {
    assertFailed(key + " reads back as '" + got + "', expected '" + value + "'");
    return false;
  }
  return true;
}

export function removeHeader(map: HeaderMapTypeValues, key: string): WasmResultValues {
  let k = utf8(key);
  return abi.proxy_remove_header_map_value(map, changetype<usize>(k), k.byteLength);
}

// Length of a body buffer as the host reports it, or -1 on error.
export function bufferLength(typ: BufferTypeValues): i64 {
  slots.reset();
  let res = abi.proxy_get_buffer_status(typ, slots.sizeAddr(), slots.wordAddr());
  if (res != WasmResultValues.Ok) {
    assertFailed("proxy_get_buffer_status(" + typ.toString() + ") returned status " + res.toString());
    return -1;
  }
  return <i64>slots.size;
}
