//! Cutting text into chunks of a size in tokens (the embedding model's tokenizer when it runs
//! here) or characters, with `text-splitter`.

use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

use super::{IngestOptions, CHARS_PER_TOKEN};
use crate::error::{Error, Result};
use crate::store::vectors::TokenCounter;

/// Largest chunk size accepted, in tokens.
const MAX_CHUNK_TOKENS: usize = 100_000;

/// How chunk sizes are measured.
#[derive(Clone)]
pub(crate) enum Sizer {
    /// Unicode scalar values.
    Chars,
    /// Tokens of an embedding model's tokenizer.
    Tokens(TokenCounter),
}

impl ChunkSizer for Sizer {
    fn size(&self, chunk: &str) -> usize {
        match self {
            Sizer::Chars => chunk.chars().count(),
            Sizer::Tokens(count) => count(chunk),
        }
    }
}

/// Cuts text into chunks of at most `capacity` (in the sizer's unit), overlapping by `overlap`.
pub(crate) struct Chunker {
    sizer: Sizer,
    capacity: usize,
    overlap: usize,
}

impl Chunker {
    /// The chunker `options` ask for: by tokens with `counter`, else by characters.
    pub(crate) fn new(options: &IngestOptions, counter: Option<TokenCounter>) -> Result<Self> {
        let (tokens, overlap) = (options.chunk_tokens, options.overlap);
        if tokens == 0 || tokens > MAX_CHUNK_TOKENS {
            return Err(Error::InvalidArgument(format!(
                "chunk size must be between 1 and {MAX_CHUNK_TOKENS} tokens, got {tokens}"
            )));
        }
        if overlap >= tokens {
            return Err(Error::InvalidArgument(format!(
                "overlap ({overlap}) must be smaller than the chunk size ({tokens})"
            )));
        }
        Ok(match counter {
            Some(counter) => Chunker {
                sizer: Sizer::Tokens(counter),
                capacity: tokens,
                overlap,
            },
            None => Chunker {
                sizer: Sizer::Chars,
                capacity: tokens * CHARS_PER_TOKEN,
                overlap: overlap * CHARS_PER_TOKEN,
            },
        })
    }

    /// What chunks were cut by, kept in metadata (`tokens:200/20`, `chars:800/80`): a document
    /// chunked differently before is re-ingested.
    pub(crate) fn signature(&self) -> String {
        let unit = match self.sizer {
            Sizer::Chars => "chars",
            Sizer::Tokens(_) => "tokens",
        };
        format!("{unit}:{}/{}", self.capacity, self.overlap)
    }

    /// The size of `text` in the sizer's unit.
    pub(crate) fn size(&self, text: &str) -> usize {
        self.sizer.size(text)
    }

    /// Most units in one chunk.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn config(&self) -> ChunkConfig<Sizer> {
        ChunkConfig::new(self.capacity)
            .with_overlap(self.overlap)
            // Checked in `new`: the overlap is below the capacity.
            .unwrap_or_else(|_| ChunkConfig::new(self.capacity))
            .with_sizer(self.sizer.clone())
    }

    /// Plain text cut at the largest boundary that fits (blank lines, lines, sentences,
    /// words): `(byte offset, chunk)` pairs, chunks trimmed.
    pub(crate) fn text<'a>(&self, text: &'a str) -> Vec<(usize, &'a str)> {
        let splitter = TextSplitter::new(self.config());
        self.cut_windows(text, &[], |window| splitter.chunk_indices(window).collect())
    }

    /// Markdown cut at the largest semantic boundary that fits (headings by level, blocks,
    /// then as text); `headings` are the byte offsets of its headings, in order.
    pub(crate) fn markdown<'a>(&self, text: &'a str, headings: &[usize]) -> Vec<(usize, &'a str)> {
        let splitter = MarkdownSplitter::new(self.config());
        self.cut_windows(text, headings, |window| {
            splitter.chunk_indices(window).collect()
        })
    }

    /// Cuts each of `text`'s bounded windows with `cut` (offsets within the window) and returns
    /// the chunks with their offsets in `text`.
    fn cut_windows<'a>(
        &self,
        text: &'a str,
        headings: &[usize],
        cut: impl Fn(&'a str) -> Vec<(usize, &'a str)>,
    ) -> Vec<(usize, &'a str)> {
        self.windows(text, headings)
            .into_iter()
            .flat_map(|(at, end)| {
                cut(&text[at..end])
                    .into_iter()
                    .map(move |(i, chunk)| (at + i, chunk))
            })
            .collect()
    }

    /// Cuts `text` into windows of at most [`Self::window_bytes`] each, at a heading when one is
    /// far enough in, else at a blank line, else at a line break, else at a character boundary.
    /// text-splitter re-reads the rest of its text for every chunk, so handing it bounded
    /// windows keeps a long document linear; windows are many chunks long, so few chunks end
    /// at a window's end instead of where the splitter would have cut.
    fn windows(&self, text: &str, headings: &[usize]) -> Vec<(usize, usize)> {
        let max = self.window_bytes();
        let mut out = Vec::new();
        let mut start = 0;
        while text.len() - start > max {
            let mut limit = start + max;
            while !text.is_char_boundary(limit) {
                limit -= 1;
            }
            let mut far = start + max / 4;
            while !text.is_char_boundary(far) {
                far -= 1;
            }
            let upto = headings.partition_point(|&h| h <= limit);
            let cut = headings[..upto]
                .last()
                .copied()
                .filter(|&h| h > far)
                .or_else(|| text[far..limit].rfind("\n\n").map(|i| far + i + 2))
                .or_else(|| text[far..limit].rfind('\n').map(|i| far + i + 1))
                .unwrap_or(limit);
            out.push((start, cut));
            start = cut;
        }
        if start < text.len() || out.is_empty() {
            out.push((start, text.len()));
        }
        out
    }

    /// The largest window handed to text-splitter at once, in bytes: 16 chunks of 4 bytes a
    /// unit, at least 8 KiB.
    fn window_bytes(&self) -> usize {
        (self.capacity * 4 * 16).max(8 << 10)
    }
}

/// One chunk of a document before it becomes a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    /// The chunk's text.
    pub text: String,
    /// The heading path (or page) the chunk sits under, joined into the row's `name`.
    pub section: Vec<String>,
    /// Chunk-level metadata (`headings`, `page`, `lines`).
    pub meta: serde_json::Map<String, serde_json::Value>,
}

impl Piece {
    /// A chunk with no section and no metadata of its own.
    pub(crate) fn plain(text: &str) -> Self {
        Piece {
            text: text.to_string(),
            section: Vec::new(),
            meta: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cut_at_headings_then_blank_lines_then_anywhere_on_a_char_boundary() {
        let chunker = Chunker::new(
            &IngestOptions {
                chunk_tokens: 10,
                overlap: 0,
                ..IngestOptions::default()
            },
            None,
        )
        .unwrap();
        let max = chunker.window_bytes();
        let para = "word ".repeat(100) + "\n\n";
        let text = para.repeat(max / para.len() * 3);
        let windows = chunker.windows(&text, &[]);
        assert!(windows.len() >= 3);
        for w in windows.windows(2) {
            assert_eq!(w[0].1, w[1].0, "contiguous");
            assert!(text[..w[0].1].ends_with("\n\n"), "cut after a blank line");
        }
        let heading_at = max / 2;
        let cuts = chunker.windows(&text, &[heading_at]);
        assert_eq!(cuts[0], (0, heading_at));
        // No line breaks at all, multi-byte characters: still progress, on char boundaries.
        let wide = "é".repeat(max);
        let cuts = chunker.windows(&wide, &[]);
        assert_eq!(cuts.last().unwrap().1, wide.len());
        assert!(cuts
            .iter()
            .all(|&(a, b)| wide.is_char_boundary(a) && wide.is_char_boundary(b) && a < b));
        // Chunks of a long text are the same whether or not it spans windows.
        let chunks = chunker.text(&text);
        assert!(chunks
            .iter()
            .all(|(at, c)| text[*at..].starts_with(c) && c.chars().count() <= 40));
    }
}
