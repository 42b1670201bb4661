# The install contract: an installed tether is usable from another project through find_package
# and through pkg-config. Sanitizer builds skip it (a consumer would need the same sanitizer flags).
if(TETHER_SANITIZER STREQUAL "")
  add_test(NAME build.install_and_consume
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(build.install_and_consume PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()
