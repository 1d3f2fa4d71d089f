/*
 * slot.c - one plugin on one worker: its current VM and its failure policy
 * (see abi.h for the rules).
 */
#include "abi/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELOAD_BACKOFF_BASE_MS 1000u
#define RELOAD_BACKOFF_MAX_MS 60000u

struct pw_slot {
    pw_module *module;
    pw_plugin_config *config;     /* owned copy, to create fresh VMs */
    const pw_host_ops *ops;
    void *host;
    pw_vm *vm;                    /* NULL when it failed to start */
    bool start_failed;
    uint32_t consecutive_failures;
    uint64_t reload_at_ms;        /* FAIL_RELOAD: no new VM before this */
    bool reload_scheduled;
    uint32_t reloads;
    char error[320];
};

/* Hands a failed VM over to its streams: freed with the last of them. */
static void retire(pw_vm *vm)
{
    if (!vm)
        return;
    if (vm->live_streams == 0)
        pw_vm_free(vm);
    else
        vm->retired = true;
}

static void start_vm(pw_slot *slot)
{
    wasm_error err = {0};
    slot->vm = pw_vm_new(slot->module, slot->config, slot->ops, slot->host, &err);
    if (!slot->vm) {
        snprintf(slot->error, sizeof slot->error, "%s", err.message);
        slot->start_failed = true;
    }
}

pw_slot *pw_slot_new(pw_module *module, const pw_plugin_config *config, const pw_host_ops *ops,
                     void *host)
{
    pw_slot *slot = calloc(1, sizeof *slot);
    if (!slot)
        return NULL;
    slot->config = pw_config_dup(config);
    if (!slot->config) {
        free(slot);
        return NULL;
    }
    slot->module = pw_module_retain(module);
    slot->ops = ops;
    slot->host = host;
    start_vm(slot);
    return slot;
}

void pw_slot_free(pw_slot *slot)
{
    if (!slot)
        return;
    retire(slot->vm);
    pw_module_release(slot->module);
    free(slot->config);
    free(slot);
}

static uint32_t backoff_ms(uint32_t failures)
{
    uint64_t ms = RELOAD_BACKOFF_BASE_MS;
    for (uint32_t i = 1; i < failures && ms < RELOAD_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > RELOAD_BACKOFF_MAX_MS ? RELOAD_BACKOFF_MAX_MS : (uint32_t)ms;
}

/* A runtime failure: count it and schedule the reload (once per VM). */
static void note_failure(pw_slot *slot, uint64_t now_ms)
{
    if (slot->reload_scheduled || !slot->vm || !slot->vm->failed)
        return;
    snprintf(slot->error, sizeof slot->error, "%s", slot->vm->error);
    slot->consecutive_failures++;
    slot->reload_scheduled = true;
    slot->reload_at_ms = now_ms + backoff_ms(slot->consecutive_failures);
}

void pw_slot_note_failure(pw_slot *slot, uint64_t now_ms) { note_failure(slot, now_ms); }

pw_slot_decision pw_slot_acquire(pw_slot *slot, uint64_t now_ms, pw_vm **vm)
{
    *vm = NULL;
    if (slot->vm && !slot->vm->failed) {
        /* A VM that has served streams since the last failure resets the
         * backoff. */
        if (slot->vm->streams_completed > 0)
            slot->consecutive_failures = 0;
        *vm = slot->vm;
        return PW_SLOT_RUN;
    }
    note_failure(slot, now_ms);
    pw_fail_strategy policy = slot->config->fail_strategy;
    if (slot->start_failed && policy == PW_FAIL_RELOAD)
        policy = PW_FAIL_CLOSE;
    if (policy == PW_FAIL_OPEN)
        return PW_SLOT_SKIP;
    if (policy == PW_FAIL_RELOAD && now_ms >= slot->reload_at_ms) {
        retire(slot->vm);
        slot->vm = NULL;
        slot->reload_scheduled = false;
        slot->reloads++;
        start_vm(slot);
        if (slot->vm) {
            *vm = slot->vm;
            return PW_SLOT_RUN;
        }
    }
    return PW_SLOT_DENY;
}

pw_vm *pw_slot_vm(const pw_slot *slot) { return slot->vm; }

bool pw_slot_failed(const pw_slot *slot) { return !slot->vm || slot->vm->failed; }

const char *pw_slot_error(const pw_slot *slot)
{
    if (slot->vm && slot->vm->failed)
        return slot->vm->error;
    return slot->error;
}

uint32_t pw_slot_reloads(const pw_slot *slot) { return slot->reloads; }
