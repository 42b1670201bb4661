# The tree stays formatted with .clang-format (scripts/check-format.sh --fix mends it).
find_program(TETHER_CLANG_FORMAT clang-format)
find_package(Git QUIET)
if(TETHER_CLANG_FORMAT AND GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
  add_test(NAME build.format COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-format.sh)
endif()
