/*
 * Stand-in bcryptprimitives.dll for Wine 8, which has none: Rust's standard
 * library on Windows imports ProcessPrng from it and a .exe without it exits
 * at load time (code 53). The e2e harness (tests/src/wine.rs) builds this
 * with mingw and puts it in the test's private Wine prefix only.
 *
 * ProcessPrng (documented: "BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData)",
 * always returns TRUE) is served by RtlGenRandom, exported by advapi32 as
 * SystemFunction036, which Wine implements.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG: fill larger requests in pieces. */
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
