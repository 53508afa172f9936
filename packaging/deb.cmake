# .deb packaging with CPack, for the Wireshark release this tree is built
# against (included by the top-level CMakeLists.txt when the plugin is built).
#
#   cmake -S . -B B -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build B
#   (cd B && cpack -G DEB)          or: scripts/package.sh
#
# scripts/package.sh builds with Debian's hardening flags (dpkg-buildflags
# with hardening=+all), as a Debian package build would.
#
# The package installs the plugin into that release's system plugin folder
# (Wireshark_PLUGIN_INSTALL_DIR/epan) and the "SMTP" configuration profile into
# Wireshark's global profiles folder (/usr/share/wireshark/profiles, beside
# Debian's own "Bluetooth", "Classic" and "No Reassembly"). It depends on the
# exact libwireshark package of that release, >= X.Y.0 and << X.(Y+1): a plugin
# built for X.Y is never loaded by another X.Y.
# SPDX-License-Identifier: GPL-2.0-or-later

set(SMTPX_DEB_NAME "wireshark-plugin-smtp-analysis" CACHE STRING
    "Name of the Debian package")
set(SMTPX_DEB_MAINTAINER "SMTP plugin maintainers <maintainers@users.noreply.r-seed-f7040cc7.example>"
    CACHE STRING "Maintainer field of the Debian package")

# The libwireshark package: the one that owns the library the epan target
# points at (dpkg -S), else libwiresharkN from its SONAME.
set(SMTPX_LIBWIRESHARK_PKG "" CACHE STRING
    "Debian package of libwireshark (empty: found with dpkg -S)")
if(NOT SMTPX_LIBWIRESHARK_PKG)
  set(_lib "")
  foreach(_cfg RELWITHDEBINFO RELEASE NONE DEBUG NOCONFIG "")
    if(NOT _lib)
      if(_cfg)
        get_target_property(_lib epan IMPORTED_LOCATION_${_cfg})
      else()
        get_target_property(_lib epan IMPORTED_LOCATION)
      endif()
    endif()
  endforeach()
  if(_lib)
    get_filename_component(_real "${_lib}" REALPATH)
    find_program(SMTPX_DPKG_QUERY dpkg-query)
    if(SMTPX_DPKG_QUERY)
      execute_process(COMMAND ${SMTPX_DPKG_QUERY} -S "${_real}"
                      OUTPUT_VARIABLE _owner ERROR_QUIET RESULT_VARIABLE _rc
                      OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(_rc EQUAL 0 AND _owner MATCHES "^([a-z0-9.+-]+)(:[a-z0-9-]+)?: ")
        set(SMTPX_LIBWIRESHARK_PKG "${CMAKE_MATCH_1}")
      endif()
    endif()
    if(NOT SMTPX_LIBWIRESHARK_PKG)
      get_target_property(_soname epan IMPORTED_SONAME_RELWITHDEBINFO)
      if(NOT _soname)
        get_target_property(_soname epan IMPORTED_SONAME_NONE)
      endif()
      if(_soname MATCHES "libwireshark\\.so\\.([0-9]+)")
        set(SMTPX_LIBWIRESHARK_PKG "libwireshark${CMAKE_MATCH_1}")
      endif()
    endif()
  endif()
endif()
if(NOT SMTPX_LIBWIRESHARK_PKG)
  message(WARNING "libwireshark's Debian package not found: the .deb will lack its "
                  "libwireshark dependency (set -DSMTPX_LIBWIRESHARK_PKG=libwiresharkN)")
endif()

math(EXPR _next_minor "${Wireshark_MINOR_VERSION} + 1")
set(SMTPX_WS_MM "${Wireshark_MAJOR_VERSION}.${Wireshark_MINOR_VERSION}")
set(SMTPX_DEB_VERSION "${PROJECT_VERSION}+ws${SMTPX_WS_MM}")

# /usr/share/doc/<package>: copyright and a (native package) changelog.gz
set(_doc "${CMAKE_BINARY_DIR}/deb-doc")
file(MAKE_DIRECTORY "${_doc}")
configure_file("${CMAKE_CURRENT_LIST_DIR}/copyright" "${_doc}/copyright" COPYONLY)
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(_epoch "$ENV{SOURCE_DATE_EPOCH}")
else()
  execute_process(COMMAND git -C "${PROJECT_SOURCE_DIR}" log -1 --format=%ct
                  OUTPUT_VARIABLE _epoch ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _epoch)
    string(TIMESTAMP _epoch "%s" UTC)
  endif()
endif()
execute_process(COMMAND date -u -R -d "@${_epoch}"
                OUTPUT_VARIABLE _date OUTPUT_STRIP_TRAILING_WHITESPACE)
file(WRITE "${_doc}/changelog"
"${SMTPX_DEB_NAME} (${SMTPX_DEB_VERSION}) unstable; urgency=medium

  * Build of the SMTP analysis plugin ${PROJECT_VERSION} for Wireshark ${SMTPX_WS_MM}
    (built against ${Wireshark_VERSION}).

 -- ${SMTPX_DEB_MAINTAINER}  ${_date}
")
execute_process(COMMAND gzip -9nf "${_doc}/changelog")
install(FILES "${_doc}/copyright" "${_doc}/changelog.gz"
        DESTINATION "share/doc/${SMTPX_DEB_NAME}" COMPONENT deb-doc
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
        EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "${SMTPX_DEB_NAME}")
set(CPACK_PACKAGE_VERSION "${SMTPX_DEB_VERSION}")
set(CPACK_PACKAGE_CONTACT "${SMTPX_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VENDOR "SMTP plugin maintainers")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/deb-strip.cmake")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SMTPX_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(SMTPX_LIBWIRESHARK_PKG)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "${SMTPX_LIBWIRESHARK_PKG} (>= ${SMTPX_WS_MM}.0), ${SMTPX_LIBWIRESHARK_PKG} (<< ${Wireshark_MAJOR_VERSION}.${_next_minor})")
endif()
set(CPACK_DEBIAN_PACKAGE_ENHANCES "wireshark, tshark")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SMTP analysis plugin for Wireshark ${SMTPX_WS_MM} and tshark")
# CPack puts the summary on the Description line and indents these lines
# (an empty line becomes " .")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"An epan plugin that takes over SMTP (TCP 25 and 587, LMTP on 24, and 465
through TLS). It reassembles command and reply lines however TCP cut
them, links every reply to the command it answers (also when commands
are pipelined), and shows the reply code, its category and meaning,
the RFC 3463 enhanced status, response times and mail transaction
outcomes, with statistics trees and service response times.

The package also installs the global configuration profile SMTP
(columns, colouring rules, filter buttons and an I/O graph).

This build is for Wireshark ${SMTPX_WS_MM} only: plugins built for one
Wireshark release are not loaded by another.")
# only what the package is for: the plugin, the profile and the doc files
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_COMPONENTS_ALL plugin profile deb-doc)
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};plugin;/"
                                 "${CMAKE_BINARY_DIR};${PROJECT_NAME};profile;/"
                                 "${CMAKE_BINARY_DIR};${PROJECT_NAME};deb-doc;/")
set(CPACK_OUTPUT_FILE_PREFIX "${CMAKE_BINARY_DIR}/deb")
include(CPack)
