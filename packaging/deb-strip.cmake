# CPack pre-build script: strip the staged plugin like Debian's dh_strip
# (CPACK_STRIP_FILES leaves the .comment and .note sections).
# SPDX-License-Identifier: GPL-2.0-or-later
find_program(_strip NAMES strip)
if(_strip)
  file(GLOB_RECURSE _libs "${CPACK_TEMPORARY_DIRECTORY}/*.so")
  foreach(_l IN LISTS _libs)
    execute_process(COMMAND "${_strip}" --strip-unneeded --remove-section=.comment
                            --remove-section=.note "${_l}" RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "strip failed on ${_l}")
    endif()
  endforeach()
endif()
