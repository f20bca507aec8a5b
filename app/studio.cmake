# The desktop app: umt5appcore (controller + worker thread, Qt Core; PDFs through umt5pdf) and the umt5-studio executable.
# Included from app/CMakeLists.txt when UMT5_BUILD_APP is ON; the widgets live in ui/ (umt5ui).
add_library(umt5appcore STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/benchmark_types.h
  ${CMAKE_CURRENT_SOURCE_DIR}/controller.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/controller.h
  ${CMAKE_CURRENT_SOURCE_DIR}/controller_benchmark.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/precision_choices.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/precision_choices.h
  ${CMAKE_CURRENT_SOURCE_DIR}/worker.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/worker.h
  ${CMAKE_CURRENT_SOURCE_DIR}/worker_benchmark.cpp)
target_include_directories(umt5appcore PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(umt5appcore PUBLIC umt5core umt5pdf Qt6::Core)
target_compile_options(umt5appcore PRIVATE -Wall -Wextra -Wno-unused-parameter)

add_executable(umt5-studio ${CMAKE_CURRENT_SOURCE_DIR}/studio_main.cpp)
target_link_libraries(umt5-studio PRIVATE umt5ui umt5appcore Qt6::Widgets)
target_compile_options(umt5-studio PRIVATE -Wall -Wextra -Wno-unused-parameter)
install(TARGETS umt5-studio RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
