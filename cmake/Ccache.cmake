# ccache carries unchanged objects from one build to the next. Precompiled headers need the
# sloppiness settings below, passed through the launcher so no user config is required.
find_program(BAGEL_CCACHE ccache)
if(BAGEL_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      ${BAGEL_CCACHE})
endif()
