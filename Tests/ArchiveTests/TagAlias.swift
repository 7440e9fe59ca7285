import DICOM

/// Swift Testing has a `Tag` of its own; in these tests it is the DICOM one.
typealias Tag = DICOM.Tag
