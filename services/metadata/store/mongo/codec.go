package mongo

import (
	"encoding/json"
	"fmt"
	"reflect"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/bson/bsonrw"
	"go.mongodb.org/mongo-driver/bson/bsontype"
)

// newRegistry is the driver's default registry with two changes the store
// types need:
//
//   - json.RawMessage (plans, report documents) is kept as a BSON string of
//     the exact bytes. A BSON sub-document would not round-trip: JSON keys
//     starting with "$" are refused or read as extended JSON, number types
//     and formatting change, and the plan must stay exactly as validated.
//   - uint64 (the run seed) is kept as the int64 with the same bits: the
//     driver refuses values above MaxInt64, and random seeds have them.
func newRegistry() *bsoncodec.Registry {
	reg := bson.NewRegistry()
	raw := reflect.TypeOf(json.RawMessage(nil))
	reg.RegisterTypeEncoder(raw, bsoncodec.ValueEncoderFunc(encodeRawJSON))
	reg.RegisterTypeDecoder(raw, bsoncodec.ValueDecoderFunc(decodeRawJSON))
	u64 := reflect.TypeOf(uint64(0))
	reg.RegisterTypeEncoder(u64, bsoncodec.ValueEncoderFunc(encodeUint64))
	reg.RegisterTypeDecoder(u64, bsoncodec.ValueDecoderFunc(decodeUint64))
	return reg
}

func encodeRawJSON(_ bsoncodec.EncodeContext, vw bsonrw.ValueWriter, v reflect.Value) error {
	if v.IsNil() {
		return vw.WriteNull()
	}
	return vw.WriteString(string(v.Bytes()))
}

func decodeRawJSON(_ bsoncodec.DecodeContext, vr bsonrw.ValueReader, v reflect.Value) error {
	switch vr.Type() {
	case bsontype.Null:
		v.SetBytes(nil)
		return vr.ReadNull()
	case bsontype.String:
		s, err := vr.ReadString()
		if err != nil {
			return err
		}
		v.SetBytes([]byte(s))
		return nil
	default:
		return fmt.Errorf("a JSON document is stored as %s, want a string", vr.Type())
	}
}

func encodeUint64(_ bsoncodec.EncodeContext, vw bsonrw.ValueWriter, v reflect.Value) error {
	return vw.WriteInt64(int64(v.Uint())) //nolint:gosec // same bits, read back by decodeUint64
}

func decodeUint64(_ bsoncodec.DecodeContext, vr bsonrw.ValueReader, v reflect.Value) error {
	switch vr.Type() {
	case bsontype.Int64:
		i, err := vr.ReadInt64()
		v.SetUint(uint64(i)) //nolint:gosec // the bits encodeUint64 stored
		return err
	case bsontype.Int32:
		i, err := vr.ReadInt32()
		v.SetUint(uint64(int64(i))) //nolint:gosec // as for int64
		return err
	default:
		return fmt.Errorf("an unsigned integer is stored as %s, want int64", vr.Type())
	}
}
