#!/bin/bash
# Makes the flat-colour animated clips and the derived transition clips that
# tests/sampler/data/scene_cuts.json describes, with the ffmpeg CLI (Debian 12's 5.1):
#   bash tests/sampler/data/make_flat_clips.sh OUT_DIR [MEDIA_DIR]
# MEDIA_DIR (default ../shared/media) holds the real clips the derived ones start from.
#
# The footage in ../shared/media that is flat-colour animation (the motion-graphics and cartoon
# clips) is a withheld evaluation set, so these clips stand in for it: shots of flat colour
# fields with moving discs and boxes, like motion graphics and cel animation, whose cuts, fades
# and dissolves are placed by the commands below (their times are in scene_cuts.json). Many of
# the cuts keep the background colour, so only the shapes on it change: the case a mean colour
# difference misses. Each shot is drawn lossless, then the shots are joined (concat, or xfade
# for a dissolve, fade for a fade through black) and encoded once with libx264.
set -euo pipefail
out=${1:?usage: make_flat_clips.sh OUT_DIR [MEDIA_DIR]}
media=${2:-$(cd "$(dirname "$0")/../../.." && pwd)/../shared/media}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
Q=(-nostdin -hide_banner -loglevel error -y)
W=480 H=270 R=25
ENC=(-c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -an)

# shot FILE SECONDS BACKGROUND LAYER... : one shot, lossless. A layer is
#   box:COLOUR:W:H:X:Y     a filled rectangle
#   disc:COLOUR:R:X:Y      a filled disc of radius R (X, Y: its bounding box's corner)
#   band:COLOUR:Y          the frame below row Y filled (a ground, a horizon)
# X and Y are ffmpeg expressions of t (seconds into the shot), so shapes can move.
shot() {
  local file=$1 dur=$2 bg=$3
  shift 3
  local inputs=(-f lavfi -i "color=c=$bg:s=${W}x$H:r=$R:d=$dur")
  local graph="" last="0:v" k=1 layer kind c a b x y
  for layer in "$@"; do
    IFS=: read -r kind c a b x y <<<"$layer"
    case $kind in
      box) inputs+=(-f lavfi -i "color=c=$c:s=${a}x$b:r=$R:d=$dur") ;;
      band) inputs+=(-f lavfi -i "color=c=$c:s=${W}x$((H - a)):r=$R:d=$dur") x=0 y=$a ;;
      disc)
        inputs+=(-f lavfi -i "color=c=$c:s=$((2 * a))x$((2 * a)):r=$R:d=$dur,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='255*lte(hypot(X-$a+0.5,Y-$a+0.5),$a)'")
        y=$x x=$b  # its fields are R, X, Y: one fewer than a box
        ;;
    esac
    graph+="[$last][$k:v]overlay=x='$x':y='$y':eval=frame:shortest=1[l$k];"
    last="l$k"
    k=$((k + 1))
  done
  graph+="[$last]format=yuv420p[v]"
  ffmpeg "${Q[@]}" "${inputs[@]}" -filter_complex "$graph" -map "[v]" -c:v ffv1 "$tmp/$file"
}

# -- flat_graphics.mp4: motion graphics, 12 s, cuts at 2.4, 4.8, 7.2 and 9.6 s -------------------
shot g1.mkv 2.4 0x2f9e44 "disc:white:36:60+40*t:100" "box:white:160:14:240:200"
shot g2.mkv 2.4 0x2f9e44 "box:0xf08c00:40:40:90:150-10*t" "box:0xf08c00:40:40:220:170-10*t" \
  "box:0xf08c00:40:40:350:130-10*t" "box:white:200:14:140:60"
shot g3.mkv 2.4 0xc92a2a "box:0x111111:60:120:210-15*t:120" "disc:0x111111:28:212-15*t:62"
shot g4.mkv 2.4 0xc92a2a "box:0x111111:36:72:80:170" "disc:0x111111:17:81:134" \
  "box:0x111111:36:72:360:170" "disc:0x111111:17:361:134" "box:white:120:10:180+8*t:40"
shot g5.mkv 2.4 0xf1f3f5 "disc:0x111111:60:180:75" "disc:0xf1f3f5:44:196:91" "box:0x868e96:150:10:165+10*t:230"
ffmpeg "${Q[@]}" -i "$tmp/g1.mkv" -i "$tmp/g2.mkv" -i "$tmp/g3.mkv" -i "$tmp/g4.mkv" -i "$tmp/g5.mkv" \
  -filter_complex "concat=n=5:v=1:a=0[v]" -map "[v]" "${ENC[@]}" "$out/flat_graphics.mp4"

# -- flat_cartoon.mp4: cel-style shots, 14.4 s ---------------------------------------------------
# fade in from black 0-0.6; cut 3.0; fade out 5.5-6.3 + fade in 6.3-7.1 (one fade through black);
# dissolve 8.0-9.0 (xfade 1 s); cut 12.4; fade out to black 13.6-14.4.
shot c1.mkv 3.0 0x74c0fc "band:0x51cf66:170" "disc:0xffd43b:30:390:25" "box:0xf76707:30:60:40+50*t:120" \
  "disc:0xf76707:16:39+50*t:90"
shot c2.mkv 3.3 0x74c0fc "band:0x51cf66:200" "box:0xf76707:120:200:180+4*t:90" "disc:0xf76707:50:190+4*t:0"
shot c3.mkv 2.8 0x1c2a4a "band:0x2b3a2b:180" "disc:0xf8f9fa:26:60:30" "box:0xf76707:30:60:300-30*t:130" \
  "disc:0xf76707:16:299-30*t:100"
shot c4.mkv 4.4 0xe9d8a6 "band:0x7f5539:200" "box:0xa5d8ff:110:80:300:40" "box:0xf76707:40:90:100+20*t:110" \
  "disc:0xf76707:20:100+20*t:72"
shot c5.mkv 2.0 0xe9d8a6 "band:0x7f5539:220" "box:0x9c6644:200:20:140:150" "box:0x9c6644:20:50:160:170" \
  "box:0xf76707:36:80:60:140" "box:0x1971c2:36:80:380-6*t:140"
ffmpeg "${Q[@]}" -i "$tmp/c1.mkv" -i "$tmp/c2.mkv" -i "$tmp/c3.mkv" -i "$tmp/c4.mkv" -i "$tmp/c5.mkv" -filter_complex \
  "[0:v]fade=t=in:st=0:d=0.6[a];[1:v]fade=t=out:st=2.5:d=0.8[b];[2:v]fade=t=in:st=0:d=0.8[c];\
[a][b][c]concat=n=3:v=1:a=0,settb=1/$R[abc];[3:v]settb=1/$R[d];[abc][d]xfade=transition=fade:duration=1:offset=8[abcd];\
[abcd][4:v]concat=n=2:v=1:a=0,fade=t=out:st=13.6:d=0.8[v]" \
  -map "[v]" "${ENC[@]}" "$out/flat_cartoon.mp4"

# -- flat_gradual.mp4: 10 s, one shot, no boundary: the background's hue turns slowly (0-4 s), a
# large dark panel slides in over 0.4 s and out again (4-6 s), the light dims and comes back (6-10 s).
shot d1.mkv 10 0x4dabf7 "disc:white:30:40+30*t:60" "box:white:140:12:300:220" \
  "box:0x212529:240:270:if(lt(t,4),-240,if(lt(t,4.4),-240+600*(t-4),if(lt(t,5.6),0,if(lt(t,6),-600*(t-5.6),-240)))):0"
ffmpeg "${Q[@]}" -i "$tmp/d1.mkv" \
  -vf "hue=H='if(lt(t,4),t*PI/8,PI/2)':b='if(between(t,6,8),-2.5*(t-6),if(between(t,8,10),-5+2.5*(t-8),0))'" \
  "${ENC[@]}" "$out/flat_gradual.mp4"

# -- real_fade_dissolve.mp4: real footage joined by a fade and a dissolve, 11 s --------------------
# chaplin.mp4 0-4 s fading out 3-4; vtest.avi 10-14 s fading in 0-1 (so a fade through black
# 3.0-5.0); xfade (dissolve) 1 s into cityCC0.mpg's first shot at offset 7.0 (dissolve 7.0-8.0).
ffmpeg "${Q[@]}" -t 4 -i "$media/chaplin.mp4" -ss 10 -t 4 -i "$media/vtest.avi" -t 4 -i "$media/cityCC0.mpg" -filter_complex \
  "[0:v]scale=$W:$H,setsar=1,fps=$R,format=yuv420p,fade=t=out:st=3:d=1[a];\
[1:v]scale=$W:$H,setsar=1,fps=$R,format=yuv420p,setpts=PTS-STARTPTS,fade=t=in:st=0:d=1[b];\
[2:v]scale=$W:$H,setsar=1,fps=$R,format=yuv420p,setpts=PTS-STARTPTS,settb=1/$R[c];\
[a][b]concat=n=2:v=1:a=0,settb=1/$R[ab];[ab][c]xfade=transition=fade:duration=1:offset=7[v]" \
  -map "[v]" "${ENC[@]}" "$out/real_fade_dissolve.mp4"
