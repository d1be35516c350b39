# Shared settings for pigeon's own targets: warnings on (errors in CI), includes rooted at the repo.
function(pigeon_target_settings target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    return()
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 false positives at -O2 in code inlined from dependency headers: date.h's parser
    # (-Wmaybe-uninitialized) and Asio's coroutine-frame allocator (-Wmismatched-new-delete).
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-mismatched-new-delete)
  endif()
  if(PIGEON_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# One doctest executable per tested target, registered test by test with ctest.
function(pigeon_test name)
  cmake_parse_arguments(arg "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  pigeon_target_settings(${name})
  target_link_libraries(${name} PRIVATE doctest::doctest ${arg_LIBS})
  target_compile_definitions(${name} PRIVATE
    PIGEON_SOURCE_DIR="${PROJECT_SOURCE_DIR}" PIGEON_BINARY_DIR="${PROJECT_BINARY_DIR}")
  doctest_discover_tests(${name} PROPERTIES ENVIRONMENT "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endfunction()
