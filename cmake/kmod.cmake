# SPDX-License-Identifier: MIT
# Drive Kbuild for rpal.ko, once per kernel build tree in RPAL_KDIRS.
# Each kernel gets build/kmod/<release>/ with symlinks to module/, because
# Kbuild writes its objects next to the sources of an external module.

if(NOT RPAL_KDIRS)
  execute_process(COMMAND uname -r OUTPUT_VARIABLE _krel
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(EXISTS "/lib/modules/${_krel}/build")
    set(RPAL_KDIRS "/lib/modules/${_krel}/build")
  else()
    message(STATUS "rpal.ko: no build tree for the running kernel ${_krel}; "
                   "set -DRPAL_KDIRS=<tree>[;<tree>...] to build the module")
  endif()
endif()

file(GLOB RPAL_KMOD_SOURCES CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/module/*.c ${CMAKE_SOURCE_DIR}/module/*.h
     ${CMAKE_SOURCE_DIR}/module/Kbuild ${CMAKE_SOURCE_DIR}/module/Makefile)

set(RPAL_KMODS "")
foreach(kdir IN LISTS RPAL_KDIRS)
  set(_uts "${kdir}/include/generated/utsrelease.h")
  if(NOT EXISTS "${_uts}")
    message(FATAL_ERROR "rpal.ko: ${kdir} is not a prepared kernel build tree (no ${_uts})")
  endif()
  file(STRINGS "${_uts}" _line REGEX "UTS_RELEASE")
  string(REGEX REPLACE ".*\"(.*)\".*" "\\1" krel "${_line}")
  set(out "${CMAKE_BINARY_DIR}/kmod/${krel}")
  add_custom_command(
    OUTPUT ${out}/rpal.ko
    COMMAND ${CMAKE_SOURCE_DIR}/tools/build-kmod.sh ${kdir} ${out} ${CMAKE_SOURCE_DIR}
    DEPENDS ${RPAL_KMOD_SOURCES} ${CMAKE_SOURCE_DIR}/include/uapi/rpal.h
            ${CMAKE_SOURCE_DIR}/VERSION ${CMAKE_SOURCE_DIR}/tools/build-kmod.sh
    COMMENT "Building rpal.ko for ${krel}"
    VERBATIM)
  string(MAKE_C_IDENTIFIER "${krel}" _tgt)
  add_custom_target(kmod-${_tgt} ALL DEPENDS ${out}/rpal.ko)
  list(APPEND RPAL_KMODS "${krel}")
  message(STATUS "rpal.ko: building for ${krel} (${kdir})")
endforeach()
