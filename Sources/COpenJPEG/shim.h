// OpenJPEG (libopenjp2): decodes JPEG 2000 pixel data for the DCMTK shim.
#include <openjpeg.h>
