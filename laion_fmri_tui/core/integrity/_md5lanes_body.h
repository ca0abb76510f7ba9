/* One MD5 step function over W lanes; included by _md5lanes.c once per width,
 * with W, NAME and VEC defined, and either TARGET (one instruction set, with
 * LOAD_M(M, ptrs, blk) filling the 16 message vectors) or neither (target
 * clones, words gathered one by one). */
#if defined(TARGET)
__attribute__((target(TARGET)))
#elif defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void NAME(uint32_t *state, const unsigned char *const *ptrs, size_t nblocks)
{
    VEC a, b, c, d;
    for (int l = 0; l < W; l++) {
        a[l] = state[4 * l]; b[l] = state[4 * l + 1]; c[l] = state[4 * l + 2]; d[l] = state[4 * l + 3];
    }
#ifndef LOAD_M
    uint32_t m[16][W] __attribute__((aligned(64)));
#endif
    for (size_t blk = 0; blk < nblocks; blk++) {
        VEC M[16];
#ifdef LOAD_M
        LOAD_M(M, ptrs, blk);
#else
        for (int l = 0; l < W; l++) {
            const unsigned char *p = ptrs[l] + 64 * blk;
            for (int w = 0; w < 16; w++) {
                uint32_t word;
                memcpy(&word, p + 4 * w, 4); /* MD5 words are little-endian, as is x86 */
                m[w][l] = word;
            }
        }
        for (int w = 0; w < 16; w++) memcpy(&M[w], m[w], sizeof(VEC));
#endif
        VEC aa = a, bb = b, cc = c, dd = d;
        STEP(F1,a,b,c,d,M[0],0xd76aa478,7); STEP(F1,d,a,b,c,M[1],0xe8c7b756,12);
        STEP(F1,c,d,a,b,M[2],0x242070db,17); STEP(F1,b,c,d,a,M[3],0xc1bdceee,22);
        STEP(F1,a,b,c,d,M[4],0xf57c0faf,7); STEP(F1,d,a,b,c,M[5],0x4787c62a,12);
        STEP(F1,c,d,a,b,M[6],0xa8304613,17); STEP(F1,b,c,d,a,M[7],0xfd469501,22);
        STEP(F1,a,b,c,d,M[8],0x698098d8,7); STEP(F1,d,a,b,c,M[9],0x8b44f7af,12);
        STEP(F1,c,d,a,b,M[10],0xffff5bb1,17); STEP(F1,b,c,d,a,M[11],0x895cd7be,22);
        STEP(F1,a,b,c,d,M[12],0x6b901122,7); STEP(F1,d,a,b,c,M[13],0xfd987193,12);
        STEP(F1,c,d,a,b,M[14],0xa679438e,17); STEP(F1,b,c,d,a,M[15],0x49b40821,22);
        STEP(F2,a,b,c,d,M[1],0xf61e2562,5); STEP(F2,d,a,b,c,M[6],0xc040b340,9);
        STEP(F2,c,d,a,b,M[11],0x265e5a51,14); STEP(F2,b,c,d,a,M[0],0xe9b6c7aa,20);
        STEP(F2,a,b,c,d,M[5],0xd62f105d,5); STEP(F2,d,a,b,c,M[10],0x02441453,9);
        STEP(F2,c,d,a,b,M[15],0xd8a1e681,14); STEP(F2,b,c,d,a,M[4],0xe7d3fbc8,20);
        STEP(F2,a,b,c,d,M[9],0x21e1cde6,5); STEP(F2,d,a,b,c,M[14],0xc33707d6,9);
        STEP(F2,c,d,a,b,M[3],0xf4d50d87,14); STEP(F2,b,c,d,a,M[8],0x455a14ed,20);
        STEP(F2,a,b,c,d,M[13],0xa9e3e905,5); STEP(F2,d,a,b,c,M[2],0xfcefa3f8,9);
        STEP(F2,c,d,a,b,M[7],0x676f02d9,14); STEP(F2,b,c,d,a,M[12],0x8d2a4c8a,20);
        STEP(F3,a,b,c,d,M[5],0xfffa3942,4); STEP(F3,d,a,b,c,M[8],0x8771f681,11);
        STEP(F3,c,d,a,b,M[11],0x6d9d6122,16); STEP(F3,b,c,d,a,M[14],0xfde5380c,23);
        STEP(F3,a,b,c,d,M[1],0xa4beea44,4); STEP(F3,d,a,b,c,M[4],0x4bdecfa9,11);
        STEP(F3,c,d,a,b,M[7],0xf6bb4b60,16); STEP(F3,b,c,d,a,M[10],0xbebfbc70,23);
        STEP(F3,a,b,c,d,M[13],0x289b7ec6,4); STEP(F3,d,a,b,c,M[0],0xeaa127fa,11);
        STEP(F3,c,d,a,b,M[3],0xd4ef3085,16); STEP(F3,b,c,d,a,M[6],0x04881d05,23);
        STEP(F3,a,b,c,d,M[9],0xd9d4d039,4); STEP(F3,d,a,b,c,M[12],0xe6db99e5,11);
        STEP(F3,c,d,a,b,M[15],0x1fa27cf8,16); STEP(F3,b,c,d,a,M[2],0xc4ac5665,23);
        STEP(F4,a,b,c,d,M[0],0xf4292244,6); STEP(F4,d,a,b,c,M[7],0x432aff97,10);
        STEP(F4,c,d,a,b,M[14],0xab9423a7,15); STEP(F4,b,c,d,a,M[5],0xfc93a039,21);
        STEP(F4,a,b,c,d,M[12],0x655b59c3,6); STEP(F4,d,a,b,c,M[3],0x8f0ccc92,10);
        STEP(F4,c,d,a,b,M[10],0xffeff47d,15); STEP(F4,b,c,d,a,M[1],0x85845dd1,21);
        STEP(F4,a,b,c,d,M[8],0x6fa87e4f,6); STEP(F4,d,a,b,c,M[15],0xfe2ce6e0,10);
        STEP(F4,c,d,a,b,M[6],0xa3014314,15); STEP(F4,b,c,d,a,M[13],0x4e0811a1,21);
        STEP(F4,a,b,c,d,M[4],0xf7537e82,6); STEP(F4,d,a,b,c,M[11],0xbd3af235,10);
        STEP(F4,c,d,a,b,M[2],0x2ad7d2bb,15); STEP(F4,b,c,d,a,M[9],0xeb86d391,21);
        a += aa; b += bb; c += cc; d += dd;
    }
    for (int l = 0; l < W; l++) {
        state[4 * l] = a[l]; state[4 * l + 1] = b[l]; state[4 * l + 2] = c[l]; state[4 * l + 3] = d[l];
    }
}

