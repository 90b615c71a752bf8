/*
 * bcryptprimitives.dll for Wine 8.0 (Debian 12), which lacks ProcessPrng.
 *
 * Go's Windows runtime loads bcryptprimitives!ProcessPrng as it starts and
 * stops with "bcryptprimitives.dll not found" without it. Wine added the DLL
 * in 8.13; until CI's Wine has it, this one-function DLL answers
 * from RtlGenRandom (advapi32!SystemFunction036), which Wine does implement,
 * reading from the host's /dev/urandom. It is only for running kauth's
 * Windows tests under Wine in CI (.ci/run); nothing kauth ships uses it.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *          bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
