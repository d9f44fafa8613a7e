/* shim.c: turns the QuickJS engine into a template that wasmweld fills in.
 *
 * The template knows nothing about the app. Its two accessor stubs, js_size() and js_init(dest), are
 * what `wasmweld edit --add-passive-data app=app.js --size-func js_size --init-func js_init` replaces
 * with accessors of the app's source, injected as a passive data segment. Each method the app
 * offers is reached through execute_method_js(index, arg), which `wasmweld edit --add-export
 * 'NAME=execute_method_js(I,ARG)'` exports under a name of its own.
 *
 * Start-up (boot) creates the JS runtime, copies the app's source in through the accessors and
 * evaluates it: the app leaves `globalThis.methods`, an array of functions of one number. boot runs
 * on the first call, or once at build time when `wasmweld snapshot` runs wizer-initialize.
 */
#include <stdlib.h>
#include <string.h>

#include "quickjs.h"

#define EXPORT(name) __attribute__((export_name(name)))
#define NOINLINE __attribute__((noinline))

/* ---- the stubs wasmweld replaces (volatile: the optimiser may not fold them into their callers) ---- */
static volatile unsigned stub_sink;

EXPORT("js_size") NOINLINE unsigned js_size(void) { return stub_sink; }

EXPORT("js_init") NOINLINE unsigned js_init(unsigned dest) {
    stub_sink = dest;
    return dest;
}

/* ---- the engine ---- */
static JSRuntime *rt;
static JSContext *ctx;
static JSValue methods;
static int booted;  /* 1: the app evaluated; -1: it failed */

static void boot(void) {
    if (booted) return;
    rt = JS_NewRuntime();
    ctx = JS_NewContext(rt);
    unsigned n = js_size();
    char *src = malloc(n + 1);
    js_init((unsigned)(size_t)src);
    src[n] = 0;
    JSValue v = JS_Eval(ctx, src, n, "app.js", JS_EVAL_TYPE_GLOBAL);
    free(src);
    if (JS_IsException(v)) { booted = -1; return; }
    JS_FreeValue(ctx, v);
    JSValue global = JS_GetGlobalObject(ctx);
    methods = JS_GetPropertyStr(ctx, global, "methods");
    JS_FreeValue(ctx, global);
    booted = JS_IsArray(ctx, methods) ? 1 : -1;
}

EXPORT("wizer-initialize") void wizer_initialize(void) { boot(); }

/* Call methods[index](arg); the result as an int (-1: no app, no such method, or it threw). */
EXPORT("execute_method_js") NOINLINE int execute_method_js(int index, int arg) {
    boot();
    if (booted != 1) return -1;
    JSValue f = JS_GetPropertyUint32(ctx, methods, (unsigned)index);
    JSValue a = JS_NewInt32(ctx, arg);
    JSValue r = JS_Call(ctx, f, JS_UNDEFINED, 1, &a);
    int out = -1;
    if (!JS_IsException(r)) JS_ToInt32(ctx, &out, r);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, f);
    return out;
}

EXPORT("is_booted") int is_booted(void) { return booted; }
