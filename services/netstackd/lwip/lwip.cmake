# lwIP 2.1.3 from Debian's source package, compiled here as a static C library with netstackd's
# lwipopts.h (BUILD-NOTES §lwIP). scripts/fetch-lwip puts the source in place; the build never
# downloads. Override the location with -DTNET_LWIP_DIR=... or $TAILNETD_LWIP_DIR.
set(_tnet_lwip_candidates "$ENV{TAILNETD_LWIP_DIR}/src" "/var/cache/tailnetd-build/lwip/src")
if(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
  list(APPEND _tnet_lwip_candidates "$ENV{XDG_CACHE_HOME}/tailnetd-build/lwip/src")
endif()
list(APPEND _tnet_lwip_candidates "$ENV{HOME}/.cache/tailnetd-build/lwip/src")
if(NOT TNET_LWIP_DIR)
  foreach(c IN LISTS _tnet_lwip_candidates)
    if(EXISTS "${c}/.tailnetd-lwip-2.1.3")
      set(TNET_LWIP_DIR "${c}")
      break()
    endif()
  endforeach()
endif()
set(TNET_LWIP_DIR "${TNET_LWIP_DIR}" CACHE PATH "unpacked lwIP 2.1.3 source tree (scripts/fetch-lwip)")
if(NOT TNET_LWIP_DIR OR NOT EXISTS "${TNET_LWIP_DIR}/src/core/tcp.c")
  message(FATAL_ERROR "lwIP source not found: run scripts/fetch-lwip (or set -DTNET_LWIP_DIR)")
endif()

set(_l ${TNET_LWIP_DIR}/src/core)
add_library(tnet_lwip STATIC
  ${_l}/init.c ${_l}/def.c ${_l}/inet_chksum.c ${_l}/ip.c ${_l}/mem.c ${_l}/memp.c ${_l}/netif.c
  ${_l}/pbuf.c ${_l}/stats.c ${_l}/sys.c ${_l}/tcp.c ${_l}/tcp_in.c ${_l}/tcp_out.c ${_l}/timeouts.c
  ${_l}/udp.c
  ${_l}/ipv4/icmp.c ${_l}/ipv4/ip4.c ${_l}/ipv4/ip4_addr.c ${_l}/ipv4/ip4_frag.c
  ${_l}/ipv6/icmp6.c ${_l}/ipv6/inet6.c ${_l}/ipv6/ip6.c ${_l}/ipv6/ip6_addr.c ${_l}/ipv6/ip6_frag.c
  ${_l}/ipv6/nd6.c)
set_target_properties(tnet_lwip PROPERTIES C_STANDARD 11 C_EXTENSIONS ON)
target_include_directories(tnet_lwip SYSTEM PUBLIC ${TNET_LWIP_DIR}/src/include)
target_include_directories(tnet_lwip PUBLIC ${CMAKE_CURRENT_LIST_DIR})
# Not tnet_flags' -Werror: this is third-party code (two known harmless nd6.c warnings).
target_compile_options(tnet_lwip PRIVATE -w -fstack-protector-strong)
if(TNET_SANITIZE)
  target_compile_options(tnet_lwip PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
endif()
target_sources(tnet_lwip PRIVATE ${CMAKE_CURRENT_LIST_DIR}/lwip_port.cpp)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/lwip_port.cpp PROPERTIES
  COMPILE_OPTIONS "-Wall;-Wextra;-Werror")
target_link_libraries(tnet_lwip PRIVATE tnet_crypto)
