() => {
  // A file dropped (or picked with "All files") on an upload box of the wrong kind: Gradio's
  // front end refuses it without a word. Say what it is and what the box takes, under the box.
  const KINDS = {
    audio: { noun: "a sound", takes: "a recording (WAV, MP3, FLAC, OGG or M4A)" },
    image: { noun: "a picture", takes: "a picture (PNG, JPEG, WebP, GIF or BMP)" },
  };
  const SOUND = /\.(wav|mp3|flac|ogg|oga|opus|m4a|aac|aiff?|webm)$/i;
  const PICTURE = /\.(png|jpe?g|webp|gif|bmp|tiff?|heic|avif)$/i;
  const kindOf = (file) => {
    if (file.type.startsWith("audio/") || SOUND.test(file.name)) return "audio";
    if (file.type.startsWith("image/") || PICTURE.test(file.name)) return "image";
    return "";
  };
  const boxOf = (element) => {
    const block = element && element.closest && element.closest(".block");
    const input = block && block.querySelector("input[type=file]");
    const wanted = input && (input.accept || "").match(/^(audio|image)\//);
    return wanted ? { block, wanted: wanted[1] } : null;
  };
  const say = (block, sentence) => {
    let note = block.parentElement.querySelector(":scope > .mmc-wrong-file");
    if (!sentence) { if (note) note.remove(); return; }
    if (!note) {
      note = document.createElement("p");
      note.className = "mmc-wrong-file";
      note.setAttribute("role", "alert");
      block.insertAdjacentElement("afterend", note);
    }
    note.textContent = sentence;
  };
  const judge = (element, files) => {
    const box = boxOf(element);
    if (!box || !files || !files.length) return;
    const file = files[0];
    const kind = kindOf(file);
    if (kind === box.wanted) { say(box.block, ""); return; }
    const what = kind ? `${KINDS[kind].noun}, not ${KINDS[box.wanted].noun}` : `neither a sound nor a picture`;
    say(box.block, `“${file.name}” is ${what}: this box takes ${KINDS[box.wanted].takes}.`);
  };
  document.addEventListener("drop", (e) => judge(e.target, e.dataTransfer && e.dataTransfer.files), true);
  document.addEventListener("change", (e) => {
    if (e.target.matches && e.target.matches("input[type=file]")) judge(e.target, e.target.files);
  }, true);
}
