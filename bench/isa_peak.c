// Peak multiply-accumulate rate of one core with AVX2 instructions: fp32 FMA against int8 (vpmaddubsw, vpmaddwd,
// vpaddd: the sequence int8 matmul kernels use where the CPU has no VNNI). Independent chains, so throughput:
// the ceiling on what int8 can gain over fp32 on an AVX2-only CPU (bench/RESULTS.md, issue 19).
// gcc -O2 bench/isa_peak.c -o /tmp/isa_peak && /tmp/isa_peak
#include <stdio.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define ITERS 100000000L
int main(void){
  double t=now();
  for(long n=0;n<ITERS;n++){
    __asm__ volatile(
      "vfmadd231ps %%ymm14,%%ymm15,%%ymm0\n vfmadd231ps %%ymm14,%%ymm15,%%ymm1\n"
      "vfmadd231ps %%ymm14,%%ymm15,%%ymm2\n vfmadd231ps %%ymm14,%%ymm15,%%ymm3\n"
      "vfmadd231ps %%ymm14,%%ymm15,%%ymm4\n vfmadd231ps %%ymm14,%%ymm15,%%ymm5\n"
      "vfmadd231ps %%ymm14,%%ymm15,%%ymm6\n vfmadd231ps %%ymm14,%%ymm15,%%ymm7\n"
      "vfmadd231ps %%ymm14,%%ymm15,%%ymm8\n vfmadd231ps %%ymm14,%%ymm15,%%ymm9\n"
      ::: "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9");
  }
  double fp=now()-t;
  t=now();
  for(long n=0;n<ITERS;n++){
    __asm__ volatile(
      "vpmaddubsw %%ymm14,%%ymm15,%%ymm0\n vpmaddwd %%ymm13,%%ymm0,%%ymm0\n vpaddd %%ymm0,%%ymm5,%%ymm5\n"
      "vpmaddubsw %%ymm14,%%ymm15,%%ymm1\n vpmaddwd %%ymm13,%%ymm1,%%ymm1\n vpaddd %%ymm1,%%ymm6,%%ymm6\n"
      "vpmaddubsw %%ymm14,%%ymm15,%%ymm2\n vpmaddwd %%ymm13,%%ymm2,%%ymm2\n vpaddd %%ymm2,%%ymm7,%%ymm7\n"
      "vpmaddubsw %%ymm14,%%ymm15,%%ymm3\n vpmaddwd %%ymm13,%%ymm3,%%ymm3\n vpaddd %%ymm3,%%ymm8,%%ymm8\n"
      "vpmaddubsw %%ymm14,%%ymm15,%%ymm4\n vpmaddwd %%ymm13,%%ymm4,%%ymm4\n vpaddd %%ymm4,%%ymm9,%%ymm9\n"
      ::: "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9");
  }
  double i8=now()-t;
  double fp_macs=ITERS*10*8.0, i8_macs=ITERS*5*32.0;
  printf("fp32 FMA: %.1f GMAC/s; int8 maddubsw+maddwd+paddd: %.1f GMAC/s; int8/fp32 %.2f\n",
         fp_macs/fp/1e9, i8_macs/i8/1e9, (i8_macs/i8)/(fp_macs/fp));
  return 0;
}
