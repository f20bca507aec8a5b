# Desktop integration, documentation and the Debian package. Included from the top-level CMakeLists.txt.
#
# `cmake --install build --prefix DIR` lays out (the binaries and the demo model are installed by app/):
#   bin/umt5, bin/umt5-studio
#   share/umt5-studio/models/demo-umt5/            found relative to the binaries (Model::default_model_dir)
#   share/applications/io.github.umt5studio.Studio.desktop
#   share/metainfo/io.github.umt5studio.Studio.metainfo.xml
#   share/icons/hicolor/scalable/apps/io.github.umt5studio.Studio.svg
#   share/doc/umt5-studio/                          README.md, docs/*.md (the app's Help menu opens user-guide.md),
#                                                   transcript.schema.json, images/
#
# `cpack -G DEB` (in the build directory) makes umt5-studio_<version>_<arch>.deb; packaging/check-deb.sh tests it.
set(UMT5_APP_ID "io.github.umt5studio.Studio")

install(FILES ${CMAKE_CURRENT_LIST_DIR}/${UMT5_APP_ID}.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/${UMT5_APP_ID}.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/${UMT5_APP_ID}.svg DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
foreach(doc user-guide developer-guide model-card session-format)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc}.md DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
endforeach()
# The JSON schema of exported transcripts (umt5 export --format json).
install(FILES ${PROJECT_SOURCE_DIR}/docs/transcript.schema.json DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/images DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

# ---- Debian package ----------------------------------------------------------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "umt5-studio")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "umT5 Studio")
# The project has no public address yet: .invalid (RFC 2606) marks the placeholder; set UMT5_PACKAGE_MAINTAINER.
set(UMT5_PACKAGE_MAINTAINER "umT5 Studio developers <maintainers@umt5-studio.invalid>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${UMT5_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "umT5 text-to-text models on the CPU: desktop app and command-line tool")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION_SUMMARY}
umT5 Studio runs umT5 encoder-decoder models (Hugging Face checkpoints such as
google/umt5-small, -base and -xl) locally on the CPU with oneDNN and sentencepiece.
It keeps each conversation's decoder KV cache, in memory and in its session file,
so continuing or regenerating an answer costs only the new tokens.
.
This package contains the Qt desktop application umt5-studio, the command-line
tool umt5 (generate, continue, score) and a small embedded demo model that
translates short user-interface strings between English and 20 languages.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
# Library dependencies come from dpkg-shlibdeps (dpkg-dev); Qt's plugins are loaded at run time and are invisible
# to it: the SVG icon engine and image format are in libqt6svg6.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libqt6svg6")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fonts-noto-core, fonts-noto-cjk, fonts-noto-color-emoji, qt6-wayland")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
include(CPack)
