# tnet install's copies of the packaging files and the operator docs, compiled into tnet
# (cli/install_plan.h): what `tnet install` writes is exactly what packaging_test scores.
file(GLOB TNET_INSTALL_UNITS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/packaging/systemd/tailnetd*")
set(TNET_INSTALL_FILES
  ${TNET_INSTALL_UNITS}
  "${PROJECT_SOURCE_DIR}/packaging/sysusers.d/tailnetd.conf"
  "${PROJECT_SOURCE_DIR}/packaging/tmpfiles.d/tailnetd.conf"
  "${PROJECT_SOURCE_DIR}/docs/operations.md"
  "${PROJECT_SOURCE_DIR}/docs/hardening.md")
string(REPLACE ";" "|" TNET_INSTALL_FILES_ARG "${TNET_INSTALL_FILES}")
add_custom_command(
  OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/install_embedded.cpp"
  COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}" "-DFILES=${TNET_INSTALL_FILES_ARG}"
          "-DOUT=${CMAKE_CURRENT_BINARY_DIR}/install_embedded.cpp"
          -P "${CMAKE_CURRENT_SOURCE_DIR}/install_embed.cmake"
  DEPENDS ${TNET_INSTALL_FILES} "${CMAKE_CURRENT_SOURCE_DIR}/install_embed.cmake"
  COMMENT "Embedding packaging/ and the operator docs into tnet"
  VERBATIM)
target_sources(tnet_cli PRIVATE install_plan.cpp cmd_install.cpp "${CMAKE_CURRENT_BINARY_DIR}/install_embedded.cpp")
