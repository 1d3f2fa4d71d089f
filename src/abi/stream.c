/*
 * stream.c - HTTP stream contexts and their events (§5.2 of the
 * reference).
 *
 * The context is created in the guest lazily, on the first event, and
 * finished with on_log, on_done and on_delete (Envoy's HTTP order), even
 * when no event reached the plugin. Return values are mapped as cpp-host
 * does: for headers any "stop" is a full stop until the plugin resumes the
 * stream; for bodies 1 means "buffer"; after a local reply the callback's
 * answer is always "stop".
 */
#include "abi/internal.h"

#include <stdlib.h>
#include <string.h>

pw_stream *pw_stream_new(pw_vm *vm, void *userdata)
{
    pw_stream *s = wg_zalloc(sizeof *s);
    if (!s)
        return NULL;
    s->vm = vm;
    s->userdata = userdata;
    s->ctx.id = vm->next_context_id++;
    s->ctx.stream = s;
    wg_headers_init(&s->ctx.properties);
    wg_headers_init(&s->reply_headers);
    if (!pw_vm_add_context(vm, &s->ctx)) {
        free(s);
        return NULL;
    }
    vm->live_streams++;
    return s;
}

void *pw_stream_userdata(const pw_stream *s) { return s->userdata; }
pw_vm *pw_stream_vm(const pw_stream *s) { return s->vm; }
pw_stream_info *pw_stream_info_of(pw_stream *s) { return &s->info; }

void pw_stream_set_request(pw_stream *s, wg_headers *headers, wg_buf *body, wg_headers *trailers)
{
    s->request_headers = headers;
    s->request_body = body;
    s->request_trailers = trailers;
}

void pw_stream_set_response(pw_stream *s, wg_headers *headers, wg_buf *body,
                            wg_headers *trailers)
{
    s->response_headers = headers;
    s->response_body = body;
    s->response_trailers = trailers;
}

enum event_kind { EV_HEADERS, EV_BODY, EV_TRAILERS };

static pw_action event(pw_stream *s, pw_callback cb, enum event_kind kind, const wasm_cell *args,
                       uint32_t nargs)
{
    pw_vm *vm = s->vm;
    if (vm->failed || (!s->ctx.created && !pw_vm_ensure_created(vm, &s->ctx)))
        return PW_FAILED;
    /* Events nest: the data plane may pass a local reply through the
     * response callbacks from inside ops->local_reply, which runs while the
     * event that sent the reply is still returning. Only the outermost
     * event may finish a stream the data plane finished meanwhile. */
    bool outer = !s->in_event;
    bool saved_stop = s->stop_current;
    s->stop_current = false;
    s->in_event = true;
    uint32_t r = 0;
    bool ok = pw_vm_call(vm, cb, &s->ctx, args, nargs, 0, &r);
    /* Only the callback that sent a local reply is forced to "stop". */
    bool forced_stop = s->stop_current;
    s->stop_current = saved_stop;
    s->in_event = !outer;
    if (s->finish_requested) {
        if (outer) {
            pw_stream_finish(s);
            return ok ? PW_STOP : PW_FAILED;
        }
        return PW_STOP;
    }
    if (!ok)
        return PW_FAILED;
    if (forced_stop)
        return PW_STOP;
    switch (kind) {
    case EV_HEADERS:
        /* 0 Continue, 2 ContinueAndEndStream (Envoy: Continue); 1, 3, 4
         * and beyond stop everything, body included, until resumed. */
        return r == 0 || r == 2 ? PW_CONTINUE : PW_STOP;
    case EV_BODY:
        /* 1 StopIterationAndBuffer, 2 StopIterationAndWatermark: buffer;
         * 3+ StopIterationNoBuffer: hold until resumed. */
        if (r == 0)
            return PW_CONTINUE;
        return r <= 2 ? PW_BUFFER : PW_STOP;
    default:
        return r == 0 ? PW_CONTINUE : PW_STOP;
    }
}

static pw_action headers_event(pw_stream *s, pw_callback cb, const wg_headers *h, bool eos)
{
    wasm_cell args[3] = {s->ctx.id, h ? h->count : 0, eos};
    /* 0.1.0 header callbacks take no end_of_stream. */
    uint32_t n = s->vm->module->abi == PW_ABI_0_1_0 ? 2 : 3;
    return event(s, cb, EV_HEADERS, args, n);
}

pw_action pw_stream_request_headers(pw_stream *s, bool end_of_stream)
{
    return headers_event(s, PW_CB_ON_REQUEST_HEADERS, s->request_headers, end_of_stream);
}

pw_action pw_stream_response_headers(pw_stream *s, bool end_of_stream)
{
    s->response_started = true;
    return headers_event(s, PW_CB_ON_RESPONSE_HEADERS, s->response_headers, end_of_stream);
}

pw_action pw_stream_request_body(pw_stream *s, bool end_of_stream)
{
    wasm_cell args[3] = {s->ctx.id, s->request_body ? s->request_body->len : 0, end_of_stream};
    return event(s, PW_CB_ON_REQUEST_BODY, EV_BODY, args, 3);
}

pw_action pw_stream_response_body(pw_stream *s, bool end_of_stream)
{
    wasm_cell args[3] = {s->ctx.id, s->response_body ? s->response_body->len : 0,
                         end_of_stream};
    return event(s, PW_CB_ON_RESPONSE_BODY, EV_BODY, args, 3);
}

pw_action pw_stream_request_trailers(pw_stream *s)
{
    wasm_cell args[2] = {s->ctx.id, s->request_trailers ? s->request_trailers->count : 0};
    return event(s, PW_CB_ON_REQUEST_TRAILERS, EV_TRAILERS, args, 2);
}

pw_action pw_stream_response_trailers(pw_stream *s)
{
    wasm_cell args[2] = {s->ctx.id, s->response_trailers ? s->response_trailers->count : 0};
    return event(s, PW_CB_ON_RESPONSE_TRAILERS, EV_TRAILERS, args, 2);
}

void pw_stream_finish(pw_stream *s)
{
    if (!s)
        return;
    if (s->in_event) {
        s->finish_requested = true;
        return;
    }
    pw_vm *vm = s->vm;
    /* Maps stay readable in on_log, but nothing may change them any more
     * and no deferred action may reach the data plane's stream. */
    s->finished = true;
    if (!vm->failed && pw_vm_ensure_created(vm, &s->ctx)) {
        wasm_cell arg = s->ctx.id;
        pw_vm_call(vm, PW_CB_ON_LOG, &s->ctx, &arg, 1, 0, NULL);
        pw_vm_call(vm, PW_CB_ON_DONE, &s->ctx, &arg, 1, 1, NULL);
        pw_vm_call(vm, PW_CB_ON_DELETE, &s->ctx, &arg, 1, 0, NULL);
    }
    s->ctx.deleted = true;
    if (vm->effective == &s->ctx)
        vm->effective = NULL;
    pw_vm_remove_context(vm, &s->ctx);
    wg_headers_free(&s->ctx.properties);
    wg_headers_free(&s->reply_headers);
    wg_buf_free(&s->reply_body);
    free(s->reply_details);
    free(s);
    vm->live_streams--;
    if (!vm->failed)
        vm->streams_completed++;
    if (vm->retired && vm->live_streams == 0)
        pw_vm_free(vm);
}
