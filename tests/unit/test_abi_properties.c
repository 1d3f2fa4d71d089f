/* Property lookups and their encodings (src/abi/properties.c), driven
 * directly with a fake VM and stream (no guest). */
#include "abi/internal.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    pw_vm vm;
    pw_stream s;
    wg_headers req, resp, trailers;
    wg_buf out;
} fixture;

static const char *const label_keys[] = {"app", "version"};
static const char *const label_values[] = {"shop", "v1"};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->vm.name = "my-plugin";
    f->vm.root_id = "root";
    f->vm.vm_id = "vm1";
    f->vm.cfg.node = (pw_node_info){
        .id = "node-1",
        .cluster = "edge",
        .namespace_ = "prod",
        .nlabels = 2,
        .label_keys = label_keys,
        .label_values = label_values,
        .listener_direction = 1,
    };
    f->vm.root.id = 1;
    f->vm.root.is_root = true;
    f->s.ctx.id = 2;
    f->s.ctx.stream = &f->s;
    f->s.vm = &f->vm;
    wg_headers *h = &f->req;
    assert_true(wg_headers_add(h, ":method", 7, "GET", 3));
    assert_true(wg_headers_add(h, ":path", 5, "/a/b?x=1&y=2#frag", 17));
    assert_true(wg_headers_add(h, ":authority", 10, "example.com", 11));
    assert_true(wg_headers_add(h, ":scheme", 7, "https", 5));
    assert_true(wg_headers_add(h, "X-Multi", 7, "one", 3));
    assert_true(wg_headers_add(h, "user-agent", 10, "curl", 4));
    assert_true(wg_headers_add(h, "x-multi", 7, "two", 3));
    assert_true(wg_headers_add(h, "content-length", 14, "42", 2));
    assert_true(wg_headers_add(&f->resp, ":status", 7, "404", 3));
    assert_true(wg_headers_add(&f->trailers, "grpc-status", 11, "0", 1));
    f->s.request_headers = &f->req;
    f->s.info.protocol = "HTTP/1.1";
    f->s.info.start_time_ns = 1700000000123456789ull;
    f->s.info.source_address = "10.0.0.1:5555";
    f->s.info.source_port = 5555;
    f->s.info.connection_id = 77;
    f->s.info.cluster_name = "backend";
    f->s.info.request_id = "rid-1";
    f->vm.current = &f->s.ctx; /* a stream callback is running */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wg_headers_free(&f->req);
    wg_headers_free(&f->resp);
    wg_headers_free(&f->trailers);
    wg_headers_free(&f->s.ctx.properties);
    wg_headers_free(&f->vm.root.properties);
    wg_buf_free(&f->out);
    free(f);
    return 0;
}

static pw_status get(fixture *f, const char *path, size_t len)
{
    return pw_property_get(&f->vm, (const uint8_t *)path, len, &f->out);
}

#define GET(f, lit) get(f, lit, sizeof(lit) - 1)

static void expect_str(fixture *f, const char *want)
{
    assert_int_equal(f->out.len, strlen(want));
    if (f->out.len)
        assert_memory_equal(f->out.data, want, f->out.len);
}

static void expect_i64(fixture *f, int64_t want)
{
    assert_int_equal(f->out.len, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)f->out.data[i] << (8 * i);
    assert_int_equal((int64_t)v, want);
}

static void test_path_forms(void **state)
{
    fixture *f = *state;
    assert_int_equal(GET(f, "request\0path"), PW_OK);
    expect_str(f, "/a/b?x=1&y=2#frag");
    assert_int_equal(GET(f, "request\0path\0"), PW_OK);
    expect_str(f, "/a/b?x=1&y=2#frag");
    assert_int_equal(GET(f, "plugin_root_id"), PW_OK);
    expect_str(f, "root");
    assert_int_equal(GET(f, "plugin_root_id\0"), PW_OK);
    expect_str(f, "root");
    /* Dots are not separators. */
    assert_int_equal(GET(f, "request.path"), PW_NOT_FOUND);
    assert_int_equal(get(f, "", 0), PW_NOT_FOUND);
    assert_int_equal(GET(f, "request"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "request\0nope"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "request\0path\0more"), PW_NOT_FOUND);
}

static void test_request(void **state)
{
    fixture *f = *state;
    assert_int_equal(GET(f, "request\0url_path"), PW_OK);
    expect_str(f, "/a/b");
    assert_int_equal(GET(f, "request\0query"), PW_OK);
    expect_str(f, "x=1&y=2");
    assert_int_equal(GET(f, "request\0host"), PW_OK);
    expect_str(f, "example.com");
    assert_int_equal(GET(f, "request\0method"), PW_OK);
    expect_str(f, "GET");
    assert_int_equal(GET(f, "request\0scheme"), PW_OK);
    expect_str(f, "https");
    assert_int_equal(GET(f, "request\0useragent"), PW_OK);
    expect_str(f, "curl");
    assert_int_equal(GET(f, "request\0referer"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "request\0id"), PW_OK);
    expect_str(f, "rid-1");
    assert_int_equal(GET(f, "request\0protocol"), PW_OK);
    expect_str(f, "HTTP/1.1");
    assert_int_equal(GET(f, "request\0time"), PW_OK);
    expect_i64(f, 1700000000123456789ll);
    assert_int_equal(GET(f, "request\0duration"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "request\0size"), PW_OK);
    expect_i64(f, 42);
    assert_int_equal(GET(f, "request\0headers_bytes"), PW_OK);
    expect_i64(f, (int64_t)f->req.bytes);

    /* One header: values joined, any case. */
    assert_int_equal(GET(f, "request\0headers\0x-multi"), PW_OK);
    expect_str(f, "one,two");
    assert_int_equal(GET(f, "request\0headers\0X-MULTI\0"), PW_OK);
    expect_str(f, "one,two");
    assert_int_equal(GET(f, "request\0headers\0absent"), PW_NOT_FOUND);

    /* The whole map: lower-case names, one pair per name. */
    assert_int_equal(GET(f, "request\0headers"), PW_OK);
    wg_headers m = {0};
    assert_true(wg_headers_deserialize(&m, f->out.data, f->out.len, false));
    assert_int_equal(m.count, 7);
    const wg_header *e = wg_headers_get(&m, "x-multi", 7);
    assert_non_null(e);
    assert_string_equal(e->name, "x-multi");
    assert_string_equal(e->value, "one,two");
    wg_headers_free(&m);
}

static void test_response_and_connection(void **state)
{
    fixture *f = *state;
    assert_int_equal(GET(f, "response\0code"), PW_NOT_FOUND);
    f->s.response_headers = &f->resp;
    f->s.response_trailers = &f->trailers;
    assert_int_equal(GET(f, "response\0code"), PW_OK);
    expect_i64(f, 404);
    f->s.info.response_code = 503;
    assert_int_equal(GET(f, "response\0code"), PW_OK);
    expect_i64(f, 503);
    assert_int_equal(GET(f, "response\0trailers\0grpc-status"), PW_OK);
    expect_str(f, "0");
    assert_int_equal(GET(f, "source\0address"), PW_OK);
    expect_str(f, "10.0.0.1:5555");
    assert_int_equal(GET(f, "source\0port"), PW_OK);
    expect_i64(f, 5555);
    assert_int_equal(GET(f, "destination\0port"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "connection\0id"), PW_OK);
    expect_i64(f, 77);
    assert_int_equal(GET(f, "connection_id"), PW_OK);
    expect_i64(f, 77);
    assert_int_equal(GET(f, "connection\0mtls"), PW_OK);
    assert_int_equal(f->out.len, 1);
    assert_int_equal(f->out.data[0], 0);
    assert_int_equal(GET(f, "xds\0cluster_name"), PW_OK);
    expect_str(f, "backend");
    assert_int_equal(GET(f, "cluster_name"), PW_OK);
    expect_str(f, "backend");
    assert_int_equal(GET(f, "route_name"), PW_NOT_FOUND);
}

static void test_root_context(void **state)
{
    fixture *f = *state;
    f->vm.current = &f->vm.root;
    assert_int_equal(GET(f, "request\0path"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "cluster_name"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "connection_id"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "plugin_name"), PW_OK);
    expect_str(f, "my-plugin");
    assert_int_equal(GET(f, "plugin_vm_id"), PW_OK);
    expect_str(f, "vm1");
    assert_int_equal(GET(f, "xds\0listener_direction"), PW_OK);
    expect_i64(f, 1);
    assert_int_equal(GET(f, "listener_direction"), PW_OK);
    expect_i64(f, 1);
    /* The effective context wins over the current one. */
    f->vm.effective = &f->s.ctx;
    assert_int_equal(GET(f, "request\0method"), PW_OK);
    expect_str(f, "GET");
}

static void test_node(void **state)
{
    fixture *f = *state;
    assert_int_equal(GET(f, "xds\0node\0id"), PW_OK);
    expect_str(f, "node-1");
    assert_int_equal(GET(f, "node\0cluster"), PW_OK);
    expect_str(f, "edge");
    assert_int_equal(GET(f, "node\0metadata\0app"), PW_OK);
    expect_str(f, "shop");
    assert_int_equal(GET(f, "xds\0node\0metadata\0NAMESPACE"), PW_OK);
    expect_str(f, "prod");
    assert_int_equal(GET(f, "xds\0node\0metadata\0nope"), PW_NOT_FOUND);
    assert_int_equal(GET(f, "xds\0node\0locality"), PW_NOT_FOUND);

    assert_int_equal(GET(f, "xds\0node\0metadata"), PW_OK);
    wg_headers m = {0};
    assert_true(wg_headers_deserialize(&m, f->out.data, f->out.len, false));
    assert_int_equal(m.count, 3);
    wg_headers_free(&m);

    /* The whole node: protobuf. Node{id: "node-1"} starts 0a 06 "node-1". */
    assert_int_equal(GET(f, "xds\0node"), PW_OK);
    assert_true(f->out.len > 8);
    assert_memory_equal(f->out.data, "\x0a\x06node-1\x12\x04" "edge\x1a", 15);
}

static void test_set_and_read_back(void **state)
{
    fixture *f = *state;
    const uint8_t *k = (const uint8_t *)"my\0key";
    assert_int_equal(pw_property_set(&f->vm, k, 6, (const uint8_t *)"v1", 2), PW_OK);
    assert_int_equal(GET(f, "my\0key"), PW_OK);
    expect_str(f, "v1");
    /* With a trailing NUL (C++ SDK) too. */
    assert_int_equal(GET(f, "my\0key\0"), PW_OK);
    expect_str(f, "v1");
    /* Replaced, case-sensitive. */
    assert_int_equal(pw_property_set(&f->vm, (const uint8_t *)"MY\0key", 6,
                                     (const uint8_t *)"upper", 5),
                     PW_OK);
    assert_int_equal(pw_property_set(&f->vm, k, 6, (const uint8_t *)"v2", 2), PW_OK);
    assert_int_equal(GET(f, "my\0key"), PW_OK);
    expect_str(f, "v2");
    assert_int_equal(GET(f, "MY\0key"), PW_OK);
    expect_str(f, "upper");
    assert_int_equal(f->s.ctx.properties.count, 2);
    /* Set values shadow built-in ones; they belong to their context. */
    assert_int_equal(pw_property_set(&f->vm, (const uint8_t *)"plugin_name", 11,
                                     (const uint8_t *)"x", 1),
                     PW_OK);
    assert_int_equal(GET(f, "plugin_name"), PW_OK);
    expect_str(f, "x");
    f->vm.current = &f->vm.root;
    assert_int_equal(GET(f, "plugin_name"), PW_OK);
    expect_str(f, "my-plugin");
    assert_int_equal(GET(f, "my\0key"), PW_NOT_FOUND);
    assert_int_equal(pw_property_set(&f->vm, (const uint8_t *)"r", 1, NULL, 0), PW_OK);
    assert_int_equal(GET(f, "r"), PW_OK);
    assert_int_equal(f->out.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_and_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_and_read_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
