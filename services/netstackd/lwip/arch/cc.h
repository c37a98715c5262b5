/* lwIP's compiler/platform glue for Linux (glibc). No network headers here (BUILD-NOTES). */
#ifndef TNET_LWIP_ARCH_CC_H
#define TNET_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif
uint32_t tnet_lwip_rand(void);
#ifdef __cplusplus
}
#endif

#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) \
  do { fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", x, __FILE__, __LINE__); abort(); } while (0)
#define LWIP_NO_UNISTD_H 0

#endif
