//! Splitting one zone's changes into `ChangeResourceRecordSets` batches within Route 53's limits.
//!
//! A request may hold at most 1,000 `ResourceRecord` elements and 32,000 characters of `Value`
//! text, and an UPSERT counts twice towards both. A region's changes form a [`Unit`] that is
//! never split, because a batch is the only atomicity Route 53 offers. Every batch keeps room
//! for the fence (a DELETE and a CREATE of one TXT record).

/// Most `ResourceRecord` elements in one request.
pub const MAX_RECORDS: usize = 1000;
/// Most characters of `Value` text in one request.
pub const MAX_CHARS: usize = 32_000;

/// What a change (or a group of them) counts against the per-request limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size {
    /// `ResourceRecord` elements, UPSERTs counted twice.
    pub records: usize,
    /// Characters of `Value` text, UPSERTs counted twice.
    pub chars: usize,
}

impl Size {
    /// Route 53's limits for one request.
    pub const LIMIT: Size = Size {
        records: MAX_RECORDS,
        chars: MAX_CHARS,
    };

    /// The size of one change with `values` (an alias target counts as one record of its DNS
    /// name, erring on the side of smaller batches); `upsert` doubles it.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a str>, upsert: bool) -> Size {
        let (records, chars) = values
            .into_iter()
            .fold((0, 0), |(n, c), v| (n + 1, c + v.len()));
        let factor = if upsert { 2 } else { 1 };
        Size {
            records: records.max(1) * factor,
            chars: chars * factor,
        }
    }

    /// Both sizes together.
    pub fn plus(self, other: Size) -> Size {
        Size {
            records: self.records + other.records,
            chars: self.chars + other.chars,
        }
    }

    /// Whether this fits within `limit`.
    pub fn within(self, limit: Size) -> bool {
        self.records <= limit.records && self.chars <= limit.chars
    }
}

/// Changes that must land together: one region's records in one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit<T> {
    /// The region the changes belong to.
    pub region: String,
    /// The changes, in order.
    pub changes: Vec<T>,
    /// What they count against the limits.
    pub size: Size,
}

/// A unit that cannot fit in any batch, even alone with the fence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the changes for {region} need {} records and {} characters, more than one Route 53 batch holds ({} and {}) beside the fence",
    size.records, size.chars, limit.records, limit.chars
)]
pub struct TooLarge {
    /// The region whose changes do not fit.
    pub region: String,
    /// Their size.
    pub size: Size,
    /// The room a batch has for them.
    pub limit: Size,
}

/// Packs `units`, in order, into as few batches as first-fit allows, each with room for
/// `reserve` (the fence) within `limit`. Units are never split.
pub fn pack<T>(units: Vec<Unit<T>>, reserve: Size, limit: Size) -> Result<Vec<Vec<T>>, TooLarge> {
    let room = Size {
        records: limit.records.saturating_sub(reserve.records),
        chars: limit.chars.saturating_sub(reserve.chars),
    };
    let mut batches: Vec<(Size, Vec<T>)> = Vec::new();
    for unit in units {
        if !unit.size.within(room) {
            return Err(TooLarge {
                region: unit.region,
                size: unit.size,
                limit: room,
            });
        }
        match batches
            .iter_mut()
            .find(|(used, _)| used.plus(unit.size).within(room))
        {
            Some((used, changes)) => {
                *used = used.plus(unit.size);
                changes.extend(unit.changes);
            }
            None => batches.push((unit.size, unit.changes)),
        }
    }
    Ok(batches.into_iter().map(|(_, changes)| changes).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn unit(region: &str, records: usize, chars: usize) -> Unit<String> {
        Unit {
            region: region.to_owned(),
            changes: vec![region.to_owned()],
            size: Size { records, chars },
        }
    }

    #[test]
    fn upserts_count_twice_and_an_alias_counts_as_one_record() {
        assert_eq!(
            Size::of(["192.0.2.1", "192.0.2.2"], true),
            Size {
                records: 4,
                chars: 36
            }
        );
        assert_eq!(
            Size::of(["192.0.2.1"], false),
            Size {
                records: 1,
                chars: 9
            }
        );
        assert_eq!(Size::of([], true).records, 2);
    }

    #[test]
    fn units_fill_batches_in_order_and_are_never_split() {
        let limit = Size {
            records: 10,
            chars: 100,
        };
        let reserve = Size {
            records: 2,
            chars: 20,
        };
        let batches = pack(
            vec![
                unit("a", 4, 10),
                unit("b", 4, 10),
                unit("c", 4, 10),
                unit("d", 1, 70),
            ],
            reserve,
            limit,
        )
        .expect("fits");
        // Room is 8 records and 80 characters: a+b fill the first batch, c starts the second,
        // and d's 70 characters fit beside c's 10.
        assert_eq!(batches, vec![vec!["a", "b"], vec!["c", "d"]]);
    }

    #[test]
    fn a_unit_larger_than_a_batch_is_refused_with_its_size() {
        let err = pack(
            vec![unit("a", 1, 10), unit("huge", 999, 10)],
            Size {
                records: 2,
                chars: 60,
            },
            Size::LIMIT,
        )
        .expect_err("too large");
        assert_eq!(err.region, "huge");
        assert_eq!(err.limit.records, 998);
        assert!(err.to_string().contains("999 records"), "{err}");
    }

    proptest! {
        /// Every batch stays within the limits with the fence added, every unit lands whole in
        /// exactly one batch.
        #[test]
        fn batches_respect_the_limits_and_keep_every_unit_whole(
            sizes in proptest::collection::vec((1usize..400, 0usize..12_000), 0..40),
        ) {
            let reserve = Size { records: 2, chars: 120 };
            let units: Vec<Unit<(usize, usize)>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &(records, chars))| Unit {
                    region: format!("r{i}"),
                    // Two changes per unit, to see that they stay together.
                    changes: vec![(i, 0), (i, 1)],
                    size: Size { records, chars },
                })
                .collect();
            let batches = pack(units, reserve, Size::LIMIT).expect("every unit fits alone");
            let mut seen = Vec::new();
            for batch in &batches {
                let used = batch
                    .iter()
                    .filter(|(_, k)| *k == 0)
                    .fold(reserve, |s, (i, _)| s.plus(Size { records: sizes[*i].0, chars: sizes[*i].1 }));
                prop_assert!(used.within(Size::LIMIT), "{used:?}");
                for pair in batch.chunks(2) {
                    prop_assert_eq!(pair[0].0, pair[1].0, "a unit was split");
                    seen.push(pair[0].0);
                }
            }
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..sizes.len()).collect::<Vec<_>>());
        }
    }
}
