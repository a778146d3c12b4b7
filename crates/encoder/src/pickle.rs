//! A small unpickler for the subset of Python pickle (protocol 2) that torch's
//! legacy checkpoint format writes: ints, strings, tuples, lists, dicts, globals,
//! `REDUCE`, `BUILD` and persistent ids, following the opcode table of CPython's
//! `pickletools`.
//!
//! It builds a [`Value`] tree and never calls anything. candle-core 0.11 has a
//! pickle reader too, but its `LONG1` decoding shifts past 64 bits (an overflow
//! panic in debug builds) on the 10-byte magic number that opens every legacy
//! checkpoint, and it reports no byte offsets; this reader returns an error with
//! the offset instead of panicking on any input.

/// A decoded pickle value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// A `LONG1` integer wider than 64 bits, as little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    String(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Key-value pairs in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `GLOBAL` reference, `module.name`.
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)`, recorded and not called.
    Reduce {
        callable: Box<Value>,
        args: Box<Value>,
    },
    /// `obj.__setstate__(state)`, recorded and not called.
    Build {
        object: Box<Value>,
        state: Box<Value>,
    },
    /// A `BINPERSID` reference to data outside the pickle stream.
    PersistentId(Box<Value>),
}

/// A decoding failure at `offset`, counted from the start of the whole buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct PickleError {
    pub offset: u64,
    pub reason: String,
}

/// Stack entries: a value or the `MARK` sentinel.
#[derive(Debug)]
enum Slot {
    Value(Value),
    Mark,
}

/// Decodes one pickle that starts at `*position` in `bytes` and advances
/// `*position` past its `STOP` opcode.
///
/// NOTE: the memo stores copies, so a container changed after it was memoised
/// (a dict filled after `BINPUT`) is seen empty through a later `BINGET`. Torch
/// state dicts only fetch immutable values (strings, globals, tuples) that way.
pub fn load(bytes: &[u8], position: &mut usize) -> Result<Value, PickleError> {
    let mut reader = Reader {
        bytes,
        position: *position,
        stack: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    let value = reader.run()?;
    *position = reader.position;
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    stack: Vec<Slot>,
    memo: std::collections::HashMap<u32, Value>,
}

impl<'a> Reader<'a> {
    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let opcode_offset = self.position;
            let opcode = self.take_u8()?;
            match opcode {
                0x80 => {
                    let protocol = self.take_u8()?;
                    if protocol > 5 {
                        return Err(self.error_at(
                            opcode_offset,
                            format!("unsupported pickle protocol {protocol}"),
                        ));
                    }
                }
                b'.' => return self.finish(),
                b'c' => {
                    let module = self.take_line()?;
                    let name = self.take_line()?;
                    self.push(Value::Global { module, name });
                }
                b'q' => {
                    let index = self.take_u8()? as u32;
                    self.memo_put(index)?;
                }
                b'r' => {
                    let index = self.take_u32()?;
                    self.memo_put(index)?;
                }
                0x94 => {
                    let index = self.memo.len() as u32;
                    self.memo_put(index)?;
                }
                b'h' => {
                    let index = self.take_u8()? as u32;
                    self.memo_get(index, opcode_offset)?;
                }
                b'j' => {
                    let index = self.take_u32()?;
                    self.memo_get(index, opcode_offset)?;
                }
                b'(' => self.stack.push(Slot::Mark),
                b')' => self.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let count = (opcode - 0x84) as usize;
                    let mut items = Vec::with_capacity(count);
                    for _ in 0..count {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(items));
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'K' => {
                    let value = self.take_u8()?;
                    self.push(Value::Int(value.into()));
                }
                b'M' => {
                    let bytes = self.take(2)?;
                    self.push(Value::Int(u16::from_le_bytes([bytes[0], bytes[1]]).into()));
                }
                b'J' => {
                    let bytes = self.take(4)?;
                    let value = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    self.push(Value::Int(value.into()));
                }
                0x8a => {
                    let length = self.take_u8()? as usize;
                    let bytes = self.take(length)?.to_vec();
                    self.push(decode_long(bytes));
                }
                b'G' => {
                    let bytes = self.take(8)?;
                    let mut array = [0u8; 8];
                    array.copy_from_slice(bytes);
                    self.push(Value::Float(f64::from_be_bytes(array)));
                }
                b'X' => {
                    let length = self.take_u32()? as usize;
                    let text = self.take_utf8(length, opcode_offset)?;
                    self.push(Value::String(text));
                }
                0x8c => {
                    let length = self.take_u8()? as usize;
                    let text = self.take_utf8(length, opcode_offset)?;
                    self.push(Value::String(text));
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b']' => self.push(Value::List(Vec::new())),
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.dict_top(opcode_offset)?.push((key, value));
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(self.error_at(
                            opcode_offset,
                            format!("SETITEMS with an odd number ({}) of values", items.len()),
                        ));
                    }
                    let dict = self.dict_top(opcode_offset)?;
                    let mut items = items.into_iter();
                    while let (Some(key), Some(value)) = (items.next(), items.next()) {
                        dict.push((key, value));
                    }
                }
                b'a' => {
                    let value = self.pop()?;
                    self.list_top(opcode_offset)?.push(value);
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.list_top(opcode_offset)?.extend(items);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.push(reduce(callable, args));
                }
                b'b' => {
                    let state = self.pop()?;
                    let object = self.pop()?;
                    self.push(Value::Build {
                        object: Box::new(object),
                        state: Box::new(state),
                    });
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.push(Value::PersistentId(Box::new(id)));
                }
                0x95 => {
                    self.take(8)?;
                }
                other => {
                    return Err(self.error_at(
                        opcode_offset,
                        format!("unsupported pickle opcode 0x{other:02x}"),
                    ));
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Value, PickleError> {
        let value = self.pop()?;
        if !self.stack.is_empty() {
            return Err(self.error(format!(
                "pickle stopped with {} values left on the stack",
                self.stack.len()
            )));
        }
        Ok(value)
    }

    fn error(&self, reason: String) -> PickleError {
        self.error_at(self.position, reason)
    }

    fn error_at(&self, offset: usize, reason: String) -> PickleError {
        PickleError {
            offset: offset as u64,
            reason,
        }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let bytes = self.bytes;
                let slice = &bytes[self.position..end];
                self.position = end;
                Ok(slice)
            }
            None => Err(self.error(format!(
                "file ends inside a pickle: {count} more bytes expected, {} left",
                self.bytes.len() - self.position
            ))),
        }
    }

    fn take_u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn take_u32(&mut self) -> Result<u32, PickleError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn take_utf8(&mut self, length: usize, opcode_offset: usize) -> Result<String, PickleError> {
        let bytes = self.take(length)?.to_vec();
        String::from_utf8(bytes)
            .map_err(|_| self.error_at(opcode_offset, "string is not valid UTF-8".into()))
    }

    fn take_line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.position..];
        let Some(length) = rest.iter().position(|&byte| byte == b'\n') else {
            return Err(self.error("GLOBAL name has no terminating newline".into()));
        };
        let start = self.position;
        let text = self.take_utf8(length, start)?;
        self.position += 1;
        Ok(text)
    }

    fn push(&mut self, value: Value) {
        self.stack.push(Slot::Value(value));
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Slot::Value(value)) => Ok(value),
            Some(Slot::Mark) => Err(self.error("found MARK where a value was expected".into())),
            None => Err(self.error("pickle stack is empty".into())),
        }
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(mark) = self
            .stack
            .iter()
            .rposition(|slot| matches!(slot, Slot::Mark))
        else {
            return Err(self.error("no MARK on the pickle stack".into()));
        };
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Value(value) => Some(value),
                Slot::Mark => None,
            })
            .collect())
    }

    fn memo_put(&mut self, index: u32) -> Result<(), PickleError> {
        match self.stack.last() {
            Some(Slot::Value(value)) => {
                self.memo.insert(index, value.clone());
                Ok(())
            }
            _ => Err(self.error("memo store with no value on the stack".into())),
        }
    }

    fn memo_get(&mut self, index: u32, opcode_offset: usize) -> Result<(), PickleError> {
        match self.memo.get(&index) {
            Some(value) => {
                let value = value.clone();
                self.push(value);
                Ok(())
            }
            None => Err(self.error_at(
                opcode_offset,
                format!("memo index {index} was never stored"),
            )),
        }
    }

    fn dict_top(&mut self, opcode_offset: usize) -> Result<&mut Vec<(Value, Value)>, PickleError> {
        let error = self.error_at(opcode_offset, "SETITEM target is not a dict".into());
        match self.stack.last_mut() {
            Some(Slot::Value(Value::Dict(items))) => Ok(items),
            _ => Err(error),
        }
    }

    fn list_top(&mut self, opcode_offset: usize) -> Result<&mut Vec<Value>, PickleError> {
        let error = self.error_at(opcode_offset, "APPEND target is not a list".into());
        match self.stack.last_mut() {
            Some(Slot::Value(Value::List(items))) => Ok(items),
            _ => Err(error),
        }
    }
}

/// Records `callable(*args)`, except that `collections.OrderedDict()` becomes
/// an empty [`Value::Dict`] so that the following `SETITEMS` can fill it.
fn reduce(callable: Value, args: Value) -> Value {
    let is_ordered_dict = matches!(
        (&callable, &args),
        (Value::Global { module, name }, Value::Tuple(items))
            if module == "collections" && name == "OrderedDict" && items.is_empty()
    );
    if is_ordered_dict {
        return Value::Dict(Vec::new());
    }
    Value::Reduce {
        callable: Box::new(callable),
        args: Box::new(args),
    }
}

/// Decodes a little-endian two's-complement `LONG1` payload.
fn decode_long(bytes: Vec<u8>) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt(bytes);
    }
    let Some(&last) = bytes.last() else {
        return Value::Int(0);
    };
    let fill = if last & 0x80 != 0 { 0xff } else { 0x00 };
    let mut array = [fill; 8];
    array[..bytes.len()].copy_from_slice(&bytes);
    Value::Int(i64::from_le_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Value, PickleError> {
        let mut position = 0;
        load(bytes, &mut position)
    }

    #[test]
    fn long1_decodes_small_and_wide_integers() {
        // pickle.dumps(-2, 2) uses BININT; these LONG1 payloads are written by hand.
        assert_eq!(decode(&[0x8a, 1, 0xfe, b'.']).unwrap(), Value::Int(-2));
        assert_eq!(
            decode(&[0x8a, 2, 0x00, 0x01, b'.']).unwrap(),
            Value::Int(256)
        );
        let wide = decode(&[0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, b'.']).unwrap();
        assert_eq!(wide, Value::BigInt(vec![1, 2, 3, 4, 5, 6, 7, 8, 9]));
    }

    #[test]
    fn dict_and_tuple_round_trip() {
        // pickle.dumps({'a': (1, 'b')}, 2)
        let bytes = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02\x86q\x03s.";
        let expected = Value::Dict(vec![(
            Value::String("a".into()),
            Value::Tuple(vec![Value::Int(1), Value::String("b".into())]),
        )]);
        assert_eq!(decode(bytes).unwrap(), expected);
    }

    #[test]
    fn truncated_pickle_reports_offset() {
        let error = decode(b"\x80\x02X\x05\x00\x00\x00ab").unwrap_err();
        assert_eq!(error.offset, 7);
        assert!(
            error.reason.contains("5 more bytes expected, 2 left"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn unknown_opcode_is_rejected() {
        let error = decode(b"\x80\x02\xff.").unwrap_err();
        assert_eq!(error.offset, 2);
        assert!(error.reason.contains("0xff"), "{}", error.reason);
    }

    #[test]
    fn missing_memo_entry_is_rejected() {
        let error = decode(b"h\x07.").unwrap_err();
        assert!(error.reason.contains("memo index 7"), "{}", error.reason);
    }
}
