//! The folder walker of `rem ingest`: the files under each root, honouring `.gitignore` (and
//! `.ignore`, global git excludes), skipping hidden files, filtered by include and exclude
//! globs. It reads the file system, so it finds files natively only.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use super::Document;
use crate::error::{Error, Result};

/// What to walk and which files to keep.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Only files matching one of these globs (relative to the root, gitignore syntax); all
    /// files when empty.
    pub include: Vec<String>,
    /// No file matching one of these globs.
    pub exclude: Vec<String>,
}

/// One file found under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// The file's path.
    pub path: PathBuf,
    /// Its path relative to the root, with `/` separators: the document's uri. For a root
    /// that is a file, its file name.
    pub uri: String,
    /// The root it was found under, as an absolute path.
    pub root: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The files under `root` (a folder, or one file), in path order.
pub fn walk(root: &Path, options: &WalkOptions) -> Result<Vec<FoundFile>> {
    let absolute = std::fs::canonicalize(root)
        .map_err(|e| Error::NotFound(format!("cannot read {}: {e}", root.display())))?;
    let root_name = absolute.to_string_lossy().into_owned();
    if absolute.is_file() {
        let size = std::fs::metadata(&absolute).map(|m| m.len()).unwrap_or(0);
        let uri = absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![FoundFile {
            path: absolute,
            uri,
            root: root_name,
            size,
        }]);
    }
    // Excludes are overrides of the walk (an excluded folder is not entered). Includes are
    // checked on each file instead: as overrides they would also let in what .gitignore and
    // the hidden-file rule leave out.
    let mut excludes = OverrideBuilder::new(&absolute);
    for glob in &options.exclude {
        excludes
            .add(&format!("!{glob}"))
            .map_err(|e| Error::InvalidArgument(format!("--exclude {glob}: {e}")))?;
    }
    let excludes = excludes
        .build()
        .map_err(|e| Error::InvalidArgument(format!("bad glob: {e}")))?;
    let mut includes = OverrideBuilder::new(&absolute);
    for glob in &options.include {
        includes
            .add(glob)
            .map_err(|e| Error::InvalidArgument(format!("--include {glob}: {e}")))?;
    }
    let includes = includes
        .build()
        .map_err(|e| Error::InvalidArgument(format!("bad glob: {e}")))?;
    let mut found = Vec::new();
    // `.gitignore` applies outside git repositories too (a copied folder keeps its rules).
    let walker = WalkBuilder::new(&absolute)
        .overrides(excludes)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        let entry =
            entry.map_err(|e| Error::Storage(format!("walking {}: {e}", root.display())))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if !options.include.is_empty() && !includes.matched(entry.path(), false).is_whitelist() {
            continue;
        }
        let path = entry.path().to_path_buf();
        let relative = path.strip_prefix(&absolute).unwrap_or(&path);
        let uri = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        found.push(FoundFile {
            path,
            uri,
            root: root_name.clone(),
            size,
        });
    }
    Ok(found)
}

impl FoundFile {
    /// Reads the file into a [`Document`] (with its source path, root and modification time);
    /// a file over `max_bytes` is read only that far plus one byte, so ingestion refuses it
    /// without holding it.
    pub fn read(&self, max_bytes: usize) -> Result<Document> {
        use std::io::Read;
        let file = std::fs::File::open(&self.path)
            .map_err(|e| Error::NotFound(format!("cannot read {}: {e}", self.path.display())))?;
        let mtime = file.metadata().and_then(|m| m.modified()).ok().map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        let mut bytes = Vec::new();
        file.take(max_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Storage(format!("reading {}: {e}", self.path.display())))?;
        Ok(Document {
            uri: self.uri.clone(),
            bytes,
            mime_type: None,
            mtime,
            source: Some(self.path.to_string_lossy().into_owned()),
            root: Some(self.root.clone()),
        })
    }
}

/// The uris found under each root, for [`IngestRun::prune`](super::IngestRun::prune).
pub fn uris_by_root(files: &[FoundFile]) -> Vec<(String, HashSet<String>)> {
    let mut out: Vec<(String, HashSet<String>)> = Vec::new();
    for f in files {
        match out.iter_mut().find(|(root, _)| *root == f.root) {
            Some((_, uris)) => {
                uris.insert(f.uri.clone());
            }
            None => out.push((f.root.clone(), HashSet::from([f.uri.clone()]))),
        }
    }
    out
}
