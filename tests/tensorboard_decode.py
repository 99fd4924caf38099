"""Decodes a libgan event file with Python's protobuf runtime, through
messages declared here with the field numbers and types of TensorBoard's
event.proto and summary.proto (Event, Summary, Summary.Value,
Summary.Image, SessionLog), and prints the same lines as events_dump, so
that the two readers can be compared. Standard library and
python3-protobuf; exits 77 (ctest's skip) without protobuf.

usage: python3 tensorboard_decode.py FILE"""
import struct
import sys

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    print("tensorboard_decode: python3-protobuf is not installed; skipped")
    sys.exit(77)

F = descriptor_pb2.FieldDescriptorProto


def add_message(parent, name, fields, nested=()):
    """fields: (name, number, type, type_name or None, repeated, oneof index or None)"""
    msg = parent.add()
    msg.name = name
    for sub in nested:
        sub(msg.nested_type)
    for fname, number, ftype, type_name, repeated, oneof in fields:
        f = msg.field.add(name=fname, number=number, type=ftype,
                          label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof
    return msg


def build():
    fd = descriptor_pb2.FileDescriptorProto(name="libgan_tb_test.proto", package="tensorboard", syntax="proto3")

    def image(nested):
        add_message(nested, "Image", [("height", 1, F.TYPE_INT32, None, False, None),
                                      ("width", 2, F.TYPE_INT32, None, False, None),
                                      ("colorspace", 3, F.TYPE_INT32, None, False, None),
                                      ("encoded_image_string", 4, F.TYPE_BYTES, None, False, None)])

    def value(nested):
        v = add_message(nested, "Value", [("node_name", 7, F.TYPE_STRING, None, False, None),
                                          ("tag", 1, F.TYPE_STRING, None, False, None),
                                          ("simple_value", 2, F.TYPE_FLOAT, None, False, 0),
                                          ("obsolete_old_style_histogram", 3, F.TYPE_BYTES, None, False, 0),
                                          ("image", 4, F.TYPE_MESSAGE, ".tensorboard.Summary.Image", False, 0)])
        v.oneof_decl.add(name="value")

    add_message(fd.message_type, "Summary",
                [("value", 1, F.TYPE_MESSAGE, ".tensorboard.Summary.Value", True, None)], (image, value))
    log = add_message(fd.message_type, "SessionLog", [("status", 1, F.TYPE_ENUM, ".tensorboard.SessionLog.SessionStatus", False, None),
                                                      ("checkpoint_path", 2, F.TYPE_STRING, None, False, None),
                                                      ("msg", 3, F.TYPE_STRING, None, False, None)])
    status = log.enum_type.add(name="SessionStatus")
    for name, number in (("STATUS_UNSPECIFIED", 0), ("START", 1), ("STOP", 2), ("CHECKPOINT", 3)):
        status.value.add(name=name, number=number)
    event = add_message(fd.message_type, "Event", [("wall_time", 1, F.TYPE_DOUBLE, None, False, None),
                                                   ("step", 2, F.TYPE_INT64, None, False, None),
                                                   ("file_version", 3, F.TYPE_STRING, None, False, 0),
                                                   ("graph_def", 4, F.TYPE_BYTES, None, False, 0),
                                                   ("summary", 5, F.TYPE_MESSAGE, ".tensorboard.Summary", False, 0),
                                                   ("session_log", 7, F.TYPE_MESSAGE, ".tensorboard.SessionLog", False, 0),
                                                   ("meta_graph_def", 9, F.TYPE_BYTES, None, False, 0)])
    event.oneof_decl.add(name="what")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("tensorboard.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def main():
    Event = build()
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        (n,) = struct.unpack("<Q", data[at:at + 8])
        event = Event()
        event.ParseFromString(data[at + 12:at + 12 + n])
        at += 12 + n + 4
        what = event.WhichOneof("what")
        assert event.wall_time > 1.5e9, event.wall_time
        if what == "file_version":
            print(f"version {event.file_version}")
        elif what == "session_log":
            assert event.session_log.status == 1  # START
            print(f"restart {event.step}")
        elif what == "summary":
            for v in event.summary.value:
                if v.WhichOneof("value") == "simple_value":
                    print(f"scalar {event.step} {v.tag} {'%.9g' % v.simple_value}")
                else:
                    i = v.image
                    assert i.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
                    print(f"image {event.step} {v.tag} {i.height} {i.width} {i.colorspace} {len(i.encoded_image_string)}")
        else:
            sys.exit(f"tensorboard_decode: unexpected event {what}")


if __name__ == "__main__":
    main()
