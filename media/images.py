"""Check an uploaded image by its content and re-encode it without metadata.

The name and the declared type of an upload say nothing: Pillow identifies the format from the
bytes, among JPEG, PNG and WebP only. The pixel count is read from the header and refused before
anything is decoded, so a decompression bomb (a few kB that expand to gigapixels) costs nothing.
Re-encoding copies the pixels into a new image, so nothing of the original file survives: no
EXIF, no GPS position, no comments, no ICC tricks. The camera's orientation is applied first.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from errors import ErrorCode, PhananhError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
THUMBNAIL_PX = 320


@dataclass(frozen=True)
class Encoded:
    """A re-encoded image and its thumbnail, in the original's format."""

    data: bytes
    thumbnail: bytes
    media_type: str
    width: int
    height: int


def reencode(data: bytes, max_bytes: int, max_pixels: int) -> Encoded:
    """The clean image, or IMAGE_TOO_LARGE / UNSUPPORTED_IMAGE with the reason."""
    if len(data) > max_bytes:
        raise PhananhError(ErrorCode.IMAGE_TOO_LARGE,
                           f"A photo may have at most {max_bytes} bytes; this one has "
                           f"{len(data)}.", maxBytes=max_bytes)
    image = _open(data, max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels, f"{width} × {height}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.seek(0)  # an animation keeps its first frame only
            clean = _pixels_only(ImageOps.exif_transpose(image))
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PhananhError(ErrorCode.UNSUPPORTED_IMAGE,
                           "The image is damaged and cannot be decoded.") from None
    kind = image.format or "JPEG"
    thumbnail = clean.copy()
    thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return Encoded(data=_save(clean, kind), thumbnail=_save(thumbnail, kind),
                   media_type=FORMATS[kind], width=clean.width, height=clean.height)


def _too_many_pixels(max_pixels: int, declared: str) -> PhananhError:
    return PhananhError(ErrorCode.IMAGE_TOO_LARGE,
                        f"A photo may have at most {max_pixels} pixels; this one declares "
                        f"{declared}.", maxPixels=max_pixels)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image, its header read but nothing decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked just after
            return Image.open(io.BytesIO(data), formats=list(FORMATS))
    except Image.DecompressionBombError:  # Pillow's own ceiling, far above ours by default
        raise _too_many_pixels(max_pixels, "more than Pillow will open") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise PhananhError(ErrorCode.UNSUPPORTED_IMAGE,
                           "Not a JPEG, PNG or WebP image (checked by content, not by name)."
                           ) from None


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding only the pixels: no info, no EXIF, no text chunks, no profile."""
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info \
        else "RGB"
    converted = image.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


def _save(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=85, optimize=True)
    elif kind == "WEBP":
        image.save(buffer, "WEBP", quality=85)
    else:
        image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
