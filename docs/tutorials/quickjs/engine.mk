# Builds template.wasm: the QuickJS engine (C sources from the PyPI `quickjs` sdist) plus shim.c, for
# wasm32-wasi as a reactor (no main; exports called by the host). `make -f engine.mk` in this folder,
# after unpacking the sdist here. clang 14+ with wasi-libc (Debian: apt-get install clang lld wasi-libc).
#
# The flags: QuickJS is built as it is for emscripten (no threads, no computed goto, no stack probe),
# with the floating-point rounding modes WebAssembly lacks defined as no-ops (only number-to-string
# ties differ), and Bignum support.
QJS     := quickjs-1.19.4/upstream-quickjs
CC      := clang
CFLAGS  := --target=wasm32-wasi -O2 -D_GNU_SOURCE -DCONFIG_VERSION='"$(shell cat $(QJS)/VERSION)"' \
           -DCONFIG_BIGNUM -DEMSCRIPTEN -DFE_DOWNWARD=0x400 -DFE_UPWARD=0x800 -Wno-everything
OBJS    := quickjs.o libregexp.o libunicode.o cutils.o libbf.o

template.wasm: shim.c $(OBJS)
	$(CC) --target=wasm32-wasi -O2 -mexec-model=reactor -I$(QJS) -o $@ shim.c $(OBJS) -lm

%.o: $(QJS)/%.c
	$(CC) $(CFLAGS) -c $< -o $@
