# FindCLBlast - for systems whose CLBlast installs no CMake package file.
# Defines CLBlast_FOUND and the imported target `clblast`, as CLBlast's own
# CLBlastConfig.cmake does.
find_path(CLBlast_INCLUDE_DIR clblast_c.h)
find_library(CLBlast_LIBRARY NAMES clblast)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CLBlast REQUIRED_VARS CLBlast_LIBRARY CLBlast_INCLUDE_DIR)
if(CLBlast_FOUND AND NOT TARGET clblast)
  add_library(clblast UNKNOWN IMPORTED)
  set_target_properties(clblast PROPERTIES
    IMPORTED_LOCATION "${CLBlast_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CLBlast_INCLUDE_DIR}")
endif()
mark_as_advanced(CLBlast_INCLUDE_DIR CLBlast_LIBRARY)
